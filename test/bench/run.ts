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
    latency: { type: "boolean", default: false },
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
  counters: string;
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
    if (values["update-delete"]) await recordVersus(await updateAndDelete(pool, server.url, WORK));
    if (values.latency) await recordResponsiveness(await measureResponsiveness(pool, server.url, 100, 2000));
  } finally {
    await pool.end();
    await server.stop();
  }
}

async function oneRun(pool: pg.Pool, url: string, csv: string, clean: string): Promise<Run> {
  await pool.query("truncate bulkrun.users, bulkrun.bulk_action_items, bulkrun.bulk_action_chunks, bulkrun.bulk_actions, bulkrun.accounts cascade");
  await pool.query("insert into bulkrun.accounts (name) values ('bench')");
  await pool.query("checkpoint");
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
    "select extract(epoch from finished_at - created_at)::float8 as seconds, created, updated, skipped, failed from bulkrun.bulk_actions",
  );
  return {
    copySeconds,
    importSeconds: action.seconds,
    workerPeakMb: workerDone.peakRssMb,
    cliPeakMb: imported.peakRssMb,
    counters: `${fmt(action.created)} created, ${fmt(action.skipped)} skipped, ${fmt(action.failed)} failed`,
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
      `${process.env.DATABASE_URL ? "external Postgres" : "embedded Postgres 18"}. Each run truncates the tables first.`,
    "",
    "| run | COPY clean rows into indexed table (rows/s) | bulkrun import, ledger on (input rows/s) | ratio | worker peak RSS | CLI peak RSS | result |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...results.map((r, i) =>
      `| ${i + 1} | ${fmt(copyRates[i]!)} | ${fmt(importRates[i]!)} | ${ratios[i]!.toFixed(2)} x | ${r.workerPeakMb.toFixed(0)} MB | ${r.cliPeakMb.toFixed(0)} MB | ${r.counters} |`,
    ),
    `| **median** | **${fmt(median(copyRates))}** | **${fmt(median(importRates))}** | **${median(ratios).toFixed(2)} x** | | | min ratio ${Math.min(...ratios).toFixed(2)} x |`,
    "",
  ];
  await writeSection("import", lines);
}

async function recordVersus(results: Versus[]): Promise<void> {
  const rate = (side: { rows: number; seconds: number }) => side.rows / side.seconds;
  const lines = [
    `### update and delete beside the plain statement (${new Date().toISOString().slice(0, 10)})`,
    "",
    "On the users the last import run left. The plain update COPYs the same kind of CSV into a staging table and runs one `update ... from`; the plain delete is one `delete ... where id < median`. bulkrun's time runs from the action's insert to its completion, ledger included.",
    "",
    "| action | plain statement (rows/s) | bulkrun (rows/s) | ratio |",
    "| --- | --- | --- | --- |",
    ...results.map((r) => `| ${r.name} | ${fmt(rate(r.plain))} (${fmt(r.plain.rows)} rows) | ${fmt(rate(r.bulkrun))} (${fmt(r.bulkrun.rows)} rows) | ${(rate(r.bulkrun) / rate(r.plain)).toFixed(2)} x |`),
    "",
  ];
  await writeSection("update-delete", lines);
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
    `| the same: engine overhead per chunk, all in (wall time × worker slots / chunks − plugin time: job fetch and completion, rate-limit tokens, transaction) | ${ms(chunks.perChunkMs)} |`,
    "",
  ];
  await writeSection("latency", lines);
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
