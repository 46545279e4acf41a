import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { cpus } from "node:os";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { guardPool } from "../../runner/db/database.ts";
import { startEmbedded } from "../../runner/db/embedded.ts";
import { migrate } from "../../runner/db/migrate.ts";
import { writeSeedCsv } from "../../runner/engine/seed.ts";
import { bulkrun, readyOn } from "./processes.ts";
import { reimports } from "./reimport.ts";
import { scaleOut, type ScaleOutRun } from "./scale-out.ts";
import { measureResponsiveness, type Responsiveness } from "./latency.ts";
import { updateAndDelete, type Versus } from "./update-delete.ts";
import { copyIntoIndexedTable, writeCleanRows } from "./yardstick.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const WORK = resolve(ROOT, ".bulkrun/bench");
const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "1000000" },
    runs: { type: "string", default: "3" },
    // Off by default until users.update and users.delete are fast enough to finish in minutes.
    "update-delete": { type: "boolean", default: false },
    reimport: { type: "boolean", default: false },
    latency: { type: "boolean", default: false },
    "scale-out": { type: "boolean", default: false },
  },
});
/** The command line that produced the numbers, for BENCHMARKS.md. */
const COMMAND = `npm run bench -- ${process.argv.slice(2).join(" ")}`.trim();
const rows = Number(values.rows);
const runs = Number(values.runs);

interface Run {
  copySeconds: number;
  importSeconds: number;
  workerPeakMb: number;
  cliPeakMb: number;
  ledgerBytesPerRow: number;
  counters: string;
  /** Where the import's time went: staging, prepare, chunks (and the mean chunk transaction). */
  phases: string;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

async function main(): Promise<void> {
  await mkdir(WORK, { recursive: true });
  const server = process.env.DATABASE_URL
    ? { url: process.env.DATABASE_URL, stop: async () => {} }
    : await startEmbedded(resolve(ROOT, ".bulkrun/bench-pgdata"), (l) => console.error(l));
  const pool = guardPool(new pg.Pool({ connectionString: server.url, max: 2 }), console.error);
  try {
    await migrate(pool);
    const csv = resolve(WORK, `users-${rows}.csv`);
    const clean = resolve(WORK, `users-${rows}.clean.tsv`);
    if (!existsSync(csv)) await writeSeedCsv(csv, { rows, duplicates: 2, invalid: 1 });
    const cleanRows = await writeCleanRows(csv, clean);
    console.error(`bench: ${fmt(rows)} rows (2% duplicate emails, 1% invalid), ${fmt(cleanRows)} rows to apply`);
    const results: Run[] = [];
    for (let i = 1; i <= runs; i++) {
      results.push(await oneRun(pool, server.url, csv, clean));
      const r = results.at(-1)!;
      console.error(`run ${i}: COPY ${r.copySeconds.toFixed(2)} s, import ${r.importSeconds.toFixed(2)} s, worker peak RSS ${r.workerPeakMb.toFixed(0)} MB`);
    }
    if (results.length > 0) await record(results, cleanRows);
    if (values.reimport) {
      const copy = { rows: cleanRows, seconds: median(results.map((r) => r.copySeconds)) };
      await recordVersus("reimport", REIMPORT, await reimports(pool, server.url, WORK, csv, copy));
    }
    if (values["update-delete"]) await recordVersus("update-delete", UPDATE_DELETE, await updateAndDelete(pool, server.url, WORK));
    if (values["scale-out"]) await recordScaleOut(await scaleOut(pool, server.url, csv, 3, () => resetTables(pool)));
    if (values.latency) await recordResponsiveness(await measureResponsiveness(pool, server.url, 100, 2000));
  } finally {
    await pool.end();
    await server.stop();
  }
}

/** Empty tables and one account, `bench`, without a rate limit. */
async function resetTables(pool: pg.Pool): Promise<void> {
  await pool.query("truncate bulkrun.users, bulkrun.bulk_action_items, bulkrun.bulk_action_chunks, bulkrun.bulk_actions, bulkrun.accounts cascade");
  await pool.query("insert into bulkrun.accounts (name) values ('bench')");
  await pool.query("checkpoint");
}

async function oneRun(pool: pg.Pool, url: string, csv: string, clean: string): Promise<Run> {
  await resetTables(pool);
  const copySeconds = await copyIntoIndexedTable(pool, clean);
  await pool.query("drop table bench_copy; checkpoint");
  const worker = bulkrun(["worker"], url);
  await readyOn(worker, /running \(pid/);
  const cli = bulkrun(["import", csv, "--account", "bench", "--wait"], url);
  const imported = await cli.done;
  worker.child.kill("SIGTERM");
  const workerDone = await worker.done;
  if (imported.code !== 0) throw new Error(`import failed:\n${imported.stderr}`);
  const { rows: [action] } = await pool.query(
    `select extract(epoch from a.finished_at - a.created_at)::float8 as seconds, a.created, a.updated, a.skipped, a.failed,
            pg_total_relation_size('bulkrun.bulk_action_items')::float8 / a.total as ledger_bytes_per_row,
            extract(epoch from a.started_at - a.created_at)::float8 as staging,
            extract(epoch from c.first_started - a.started_at)::float8 as prepare,
            extract(epoch from a.finished_at - c.first_started)::float8 as chunks,
            c.count, c.mean_ms
       from bulkrun.bulk_actions a,
            lateral (select min(started_at) as first_started, count(*)::int as count, avg(duration_ms)::float8 as mean_ms
                       from bulkrun.bulk_action_chunks where action_id = a.id) c`,
  );
  const s = (n: number) => `${n.toFixed(1)} s`;
  return {
    copySeconds,
    importSeconds: action.seconds,
    workerPeakMb: workerDone.peakRssMb,
    cliPeakMb: imported.peakRssMb,
    ledgerBytesPerRow: action.ledger_bytes_per_row,
    counters: `${fmt(action.created)} created, ${fmt(action.skipped)} skipped, ${fmt(action.failed)} failed`,
    phases: `${s(action.staging)} / ${s(action.prepare)} / ${s(action.chunks)} (${action.count} × ${fmt(action.mean_ms)} ms)`,
  };
}

async function record(results: Run[], cleanRows: number): Promise<void> {
  const copyRates = results.map((r) => cleanRows / r.copySeconds);
  const importRates = results.map((r) => rows / r.importSeconds);
  const ratios = importRates.map((rate, i) => rate / copyRates[i]!);
  const lines = [
    `### users.import, ${fmt(rows)}-row CSV into an empty table (${new Date().toISOString().slice(0, 10)})`,
    "",
    `Command: \`${COMMAND}\` on ${cpus().length} cores (${cpus()[0]?.model ?? "unknown CPU"}), ` +
      `${process.env.DATABASE_URL ? "external Postgres" : "embedded Postgres 18"}. Each run truncates the tables first. ` +
      "Phases, from the action's timestamps: staging (the CLI parses the file and COPYs it into the ledger), prepare (plan and enqueue the chunks), " +
      "chunks (first chunk's start to completion, 2 worker slots; a chunk transaction's mean time beside it).",
    "",
    "| run | COPY clean rows into indexed table (rows/s) | bulkrun import, ledger on (input rows/s) | ratio | worker peak RSS | CLI peak RSS | ledger on disk per row | staging / prepare / chunks (chunks × mean transaction) | result |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...results.map((r, i) =>
      `| ${i + 1} | ${fmt(copyRates[i]!)} | ${fmt(importRates[i]!)} | ${ratios[i]!.toFixed(2)} x | ${r.workerPeakMb.toFixed(0)} MB | ${r.cliPeakMb.toFixed(0)} MB | ${r.ledgerBytesPerRow.toFixed(0)} B | ${r.phases} | ${r.counters} |`,
    ),
    `| **median** | **${fmt(median(copyRates))}** | **${fmt(median(importRates))}** | **${median(ratios).toFixed(2)} x** | | | | | min ratio ${Math.min(...ratios).toFixed(2)} x |`,
    "",
  ];
  await writeSection(rows === 1_000_000 ? "import" : `import-${rows}`, lines);
}

/** How each side-by-side table was measured: its heading and what its two sides are. */
interface VersusTable {
  title: string;
  about: string;
  plain: string;
}

const REIMPORT: VersusTable = {
  title: "re-imports into the users the last import run left",
  about: "The same file again (every valid row `unchanged`: the user is not written), then every user under a new name (all `updated`), each beside the median COPY of the import runs. bulkrun's time runs from the action's insert to its completion, ledger included.",
  plain: "COPY clean rows into indexed table",
};

const UPDATE_DELETE: VersusTable = {
  title: "update and delete beside the plain statement",
  about: "On the users the last import run left. The plain update COPYs the same kind of CSV into a staging table and runs one `update ... from`; the plain delete is one `delete ... where id < median`. bulkrun's time runs from the action's insert to its completion, ledger included.",
  plain: "plain statement",
};

async function recordVersus(section: string, table: VersusTable, results: Versus[]): Promise<void> {
  const rate = (side: { rows: number; seconds: number }) => side.rows / side.seconds;
  const lines = [
    `### ${table.title} (${new Date().toISOString().slice(0, 10)})`,
    "",
    `Command: \`${COMMAND}\`. ${table.about}`,
    "",
    `| action | ${table.plain} (rows/s) | bulkrun (rows/s) | ratio |`,
    "| --- | --- | --- | --- |",
    ...results.map((r) => `| ${r.name} | ${fmt(rate(r.plain))} (${fmt(r.plain.rows)} rows) | ${fmt(rate(r.bulkrun))} (${fmt(r.bulkrun.rows)} rows) | ${(rate(r.bulkrun) / rate(r.plain)).toFixed(2)} x |`),
    "",
  ];
  await writeSection(section, lines);
}

async function recordResponsiveness({ latencyMs, chunks }: Responsiveness): Promise<void> {
  const ms = (n: number) => `${n.toFixed(n < 10 ? 1 : 0)} ms`;
  const lines = [
    `### Latency and chunk overhead on an idle runner (${new Date().toISOString().slice(0, 10)})`,
    "",
    `Command: \`${COMMAND}\`. A worker in the bench's own process, with the project's configuration.`,
    "",
    "| measure | result |",
    "| --- | --- |",
    `| \`insert into bulkrun.bulk_actions\` of a 1-row import to status \`completed\` (server clock), ${latencyMs.runs} runs | p50 ${ms(latencyMs.p50)}, p95 ${ms(latencyMs.p95)}, max ${ms(latencyMs.max)} |`,
    `| one import in ${fmt(chunks.count)} chunks of ${chunks.rowsPerChunk} rows: the plugin's statement, per chunk | ${ms(chunks.pluginMs)} |`,
    `| the same: the rest of the chunk's transaction (claim, counters, chunk status), per chunk | ${ms(chunks.inTransactionMs)} |`,
    `| the same: engine overhead per chunk, all in (wall time × worker slots / chunks − plugin time: job fetch and completion, transaction; the account has no rate limit) | ${ms(chunks.perChunkMs)} |`,
    "",
  ];
  await writeSection("latency", lines);
}

async function recordScaleOut(runs: ScaleOutRun[]): Promise<void> {
  const lines = [
    `### The same import with 1, 2 and 3 worker processes (${new Date().toISOString().slice(0, 10)})`,
    "",
    `Command: \`${COMMAND}\`. Each run from empty tables; every process runs 2 worker slots; checks read after each run.`,
    "",
    "| worker processes | import (input rows/s) | chunks per process | result | users / distinct emails | pending ledger rows | chunks retried or not done |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...runs.map(
      (r) =>
        `| ${r.processes} | ${fmt(r.rowsPerSecond)} | ${r.chunksPerProcess.join(" / ")} | ${r.counters} | ${fmt(r.check.users)} / ${fmt(r.check.distinctEmails)} | ${r.check.pendingRows} | ${r.check.chunksRetried} |`,
    ),
    "",
  ];
  await writeSection("scale-out", lines);
}

/** Replaces (or appends) one marked section of BENCHMARKS.md. */
async function writeSection(name: string, lines: string[]): Promise<void> {
  const path = resolve(ROOT, "BENCHMARKS.md");
  const previous = existsSync(path) ? await readFile(path, "utf8") : "";
  const marker = `<!-- bench:${name} -->`;
  const section = `${marker}\n${lines.join("\n")}${marker}`;
  const next = previous.includes(marker)
    ? previous.replace(new RegExp(`${marker}[\\s\\S]*${marker}`), section)
    : `${previous || "# Benchmarks\n\nProduced by `npm run bench`; every ratio compares numbers measured in the same run on the same server.\n"}\n${section}\n`;
  await writeFile(path, next);
  console.log(lines.join("\n"));
}

await main();
