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
  },
});
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
    await record(results, cleanRows);
    if (values["update-delete"]) await recordVersus(await updateAndDelete(pool, server.url, WORK));
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
    `Command: \`npm run bench -- --rows ${rows} --runs ${runs}\` on ${cpus().length} cores (${cpus()[0]?.model ?? "unknown CPU"}), ` +
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
