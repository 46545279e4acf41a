import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import pg from "pg";
import { parseContact } from "../../plugins/users-import/validate.ts";
import { loadConfig, type ResolvedConfig } from "../../runner/config.ts";
import { guardPool, openDatabase, type Database } from "../../runner/db/database.ts";
import { startEmbedded } from "../../runner/db/embedded.ts";
import { migrate } from "../../runner/db/migrate.ts";
import { createAccount } from "../../runner/engine/accounts.ts";
import type { ActionRow } from "../../runner/engine/actions.ts";
import { openCsv } from "../../runner/engine/csv.ts";
import { writeSeedCsv } from "../../runner/engine/seed.ts";
import { submitFile } from "../../runner/engine/submit.ts";
import { watchAction } from "../../runner/engine/watch.ts";
import { withDatabase } from "../helpers/server.ts";
import { Fleet } from "./fleet.ts";
import { checkAction, checkNoJobsLeft, compareKeys, userKeys } from "./invariants.ts";

/*
 * npm run soak -- [--minutes 5] [--workers 3] [--rows 20000] [--chunk-size 500]
 *                 [--kill-every-ms 3000] [--kill-signal SIGKILL|SIGTERM] [--seed 1]
 *                 [--actions import,update,delete] [--rate-limit ROWS_PER_MINUTE]
 *
 * Imports (then updates and deletes, when those plugins are configured) a generated file round
 * after round while `bulkrun worker` processes are killed at random and replaced, and checks
 * after every round that nothing was lost, doubled or left locked. Runs on DATABASE_URL (in a
 * database of its own, dropped at the end unless something was wrong) or an embedded Postgres.
 */
const ROOT = resolve(import.meta.dirname, "../..");
const WORK = resolve(ROOT, ".bulkrun/soak");
const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "5" },
    workers: { type: "string", default: "3" },
    rows: { type: "string", default: "20000" },
    "chunk-size": { type: "string", default: "500" },
    "kill-every-ms": { type: "string", default: "3000" },
    "kill-signal": { type: "string", default: "SIGKILL" },
    seed: { type: "string", default: "1" },
    actions: { type: "string", default: "import,update,delete" },
    "rate-limit": { type: "string" },
  },
});
const minutes = Number(values.minutes);
const workers = Number(values.workers);
const rows = Number(values.rows);
const chunkSize = Number(values["chunk-size"]);
const killEveryMs = Number(values["kill-every-ms"]);
const killSignal = values["kill-signal"] as NodeJS.Signals;
const actions = new Set(values.actions.split(",").map((a) => `users.${a.trim()}`));
const rateLimit = values["rate-limit"] === undefined ? null : Number(values["rate-limit"]);
const usable =
  [minutes, workers, rows, chunkSize, killEveryMs, rateLimit ?? 1].every((n) => Number.isFinite(n) && n > 0) &&
  ["SIGKILL", "SIGTERM", "SIGINT"].includes(killSignal) &&
  actions.has("users.import") &&
  [...actions].every((a) => ["users.import", "users.update", "users.delete"].includes(a));
if (!usable) {
  console.error(
    "usage: npm run soak -- [--minutes N] [--workers N] [--rows N] [--chunk-size N] [--kill-every-ms N] [--kill-signal SIGKILL|SIGTERM] [--seed N] [--actions import,update,delete] [--rate-limit ROWS_PER_MINUTE]",
  );
  process.exit(2);
}
// Short beats so that a killed worker's jobs are released within seconds, and enough chunk
// attempts that repeated kills of one chunk's workers never exhaust them.
const LIVENESS = { heartbeatMs: 500, deadAfterMs: 2000 };
const ACTION_TIMEOUT_MS = 180_000;

/** A deterministic random sequence (mulberry32), so that a failing run can be repeated. */
function randomFrom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = randomFrom(Number(values.seed));
const fmt = (n: number | null) => (n ?? 0).toLocaleString("en-US");

interface Soak {
  db: Database;
  config: ResolvedConfig;
  fleet: Fleet;
  csv: string;
  fileKeys: Set<string>;
}

async function main(): Promise<void> {
  await mkdir(WORK, { recursive: true });
  const server = process.env.DATABASE_URL
    ? { url: process.env.DATABASE_URL, stop: async () => {} }
    : await startEmbedded(resolve(ROOT, ".bulkrun/soak-pgdata"), (line) => console.error(line));
  const name = `bulkrun_soak_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = withDatabase(server.url, name);
  let keep = false;
  try {
    const pool = guardPool(new pg.Pool({ connectionString: url, max: 1 }), console.error);
    await migrate(pool);
    await pool.end();
    const configPath = resolve(WORK, "soak.config.ts");
    await writeFile(
      configPath,
      `import base from ${JSON.stringify(resolve(ROOT, "runner.config.ts"))};\n` +
        `export default { ...base, worker: { ...base.worker, chunkAttempts: 25, shutdownGraceMs: 10000, ...${JSON.stringify(LIVENESS)} } };\n`,
    );
    const env = { BULKRUN_CONFIG: configPath };
    const config = await loadConfig({ ...env, DATABASE_URL: url });
    const db = await openDatabase(config, { poolSize: 4 });
    const csv = resolve(WORK, `users-${rows}.csv`);
    await writeSeedCsv(csv, { rows, duplicates: 3, invalid: 2, seed: Number(values.seed) });
    const fleet = new Fleet(url, env);
    try {
      for (let i = 0; i < workers; i++) await fleet.spawn();
      console.error(
        `soak: ${minutes} min on ${name}, ${workers} workers killed with ${killSignal} every ≤${killEveryMs} ms, ` +
          `${fmt(rows)} rows per import, chunks of ${chunkSize}, actions ${[...actions].filter((a) => config.plugins.has(a)).join(", ")}, ` +
          (rateLimit === null ? "accounts without a rate limit" : `accounts limited to ${fmt(rateLimit)} rows a minute`),
      );
      keep = !(await soak({ db, config, fleet, csv, fileKeys: await validKeys(csv) }));
    } finally {
      await fleet.stop();
      await db.close();
    }
  } finally {
    if (keep) console.error(`soak: kept the database for inspection: ${url}`);
    else await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
    await server.stop();
  }
  if (keep) process.exitCode = 1;
}

/** Rounds until the time is up or an invariant breaks; true when every round held. */
async function soak(run: Soak): Promise<boolean> {
  const deadline = Date.now() + minutes * 60_000;
  let stop = false;
  // Ends after the round in progress, so the workers are stopped and the database dropped.
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => (stop = true));
  const chaos = (async () => {
    while (!stop) {
      await sleep(random() * killEveryMs);
      if (stop) break;
      await run.fleet.killOne(killSignal, random).catch((error: Error) => {
        run.fleet.crashes.push(`restarting a worker failed: ${error.message}`);
        stop = true;
      });
    }
  })();
  let ok = true;
  try {
    for (let n = 1; ok && !stop && Date.now() < deadline; n++) {
      const started = performance.now();
      const { parts, problems } = await round(run, n);
      ok = problems.length === 0;
      console.log(
        `round ${n}: ${parts.join("; ")}; ${run.fleet.kills} workers killed so far; ` +
          `${ok ? "invariants hold" : "VIOLATED"} (${((performance.now() - started) / 1000).toFixed(1)} s)`,
      );
      for (const problem of problems) console.log(`  ${problem}`);
    }
  } finally {
    stop = true;
    await chaos;
  }
  for (const crash of run.fleet.crashes) console.log(`  after the last round: ${crash}`);
  return ok && run.fleet.crashes.length === 0;
}

/** One import into a fresh account, then an update of a third and a delete of a fifth of its users. */
async function round(run: Soak, n: number): Promise<{ parts: string[]; problems: string[] }> {
  const { db } = run;
  const account = await createAccount(db.knex, `soak-${n}`, rateLimit);
  const parts: string[] = [];
  const problems: string[] = [];
  const act = async (type: string, input: Readable, inputRows: number) => {
    const done = await runAction(run, type, account.id, input, inputRows);
    parts.push(done.summary);
    problems.push(...done.problems);
    return done.action;
  };
  await act("users.import", createReadStream(run.csv), rows);
  problems.push(...compareKeys("users after the import", await userKeys(db.knex, account.id), run.fileKeys));
  if (runs(run, "users.update")) {
    const renamed = [...(await userKeys(db.knex, account.id))].filter((_, i) => i % 3 === 0);
    const action = await act("users.update", csvOf("email,name", renamed.map((key, i) => `${key},Soak ${n}.${i}`)), renamed.length);
    if (action && action.updated !== renamed.length) problems.push(`users.update updated ${action.updated} of ${renamed.length} users`);
    const { rows: names } = await db.knex.raw<{ rows: { n: number }[] }>(
      "select count(*)::int as n from bulkrun.users where account_id = ? and name like ?",
      [account.id, `Soak ${n}.%`],
    );
    if (names[0]!.n !== renamed.length) problems.push(`${names[0]!.n} users carry the new names, not ${renamed.length}`);
  }
  if (runs(run, "users.delete")) {
    const before = [...(await userKeys(db.knex, account.id))];
    const gone = new Set(before.filter((_, i) => i % 5 === 1));
    await act("users.delete", csvOf("email", [...gone]), gone.size);
    problems.push(...compareKeys("users after the delete", await userKeys(db.knex, account.id), new Set(before.filter((k) => !gone.has(k)))));
  }
  problems.push(...(await checkNoJobsLeft(db.knex, LIVENESS.deadAfterMs + 15_000)), ...run.fleet.crashes.splice(0));
  return { parts, problems };
}

/** Submits an action the way `bulkrun import` does, waits for it, and checks its invariants. */
async function runAction(run: Soak, type: string, accountId: number, input: Readable, inputRows: number) {
  const started = performance.now();
  const submitted = await submitFile(run, { accountId, type, chunkSize }, input, `${type}.csv`);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolvePromise) => (timer = setTimeout(() => resolvePromise(undefined), ACTION_TIMEOUT_MS)));
  const action: ActionRow | undefined = await Promise.race([watchAction(run.db, submitted.id, () => {}, 500), timeout]);
  clearTimeout(timer);
  if (!action) {
    return { action, summary: `${type} did not finish`, problems: [`action ${submitted.id} (${type}) did not finish within ${ACTION_TIMEOUT_MS / 1000} s`] };
  }
  const seconds = (performance.now() - started) / 1000;
  const summary =
    `${type} ${fmt(inputRows)} rows ${action.status} in ${seconds.toFixed(1)} s (${fmt(action.created)} created, ` +
    `${fmt(action.updated)} updated, ${fmt(action.deleted)} deleted, ${fmt(action.skipped)} skipped, ${fmt(action.failed)} failed)`;
  return { action, summary, problems: await checkAction(run.db.knex, run.config.plugins.get(type)!, action, inputRows) };
}

/** Whether this soak runs the action type: asked for, and configured. */
function runs(run: Soak, type: string): boolean {
  return actions.has(type) && run.config.plugins.has(type);
}

function csvOf(header: string, lines: string[]): Readable {
  return Readable.from([`${header}\n${lines.join("\n")}\n`]);
}

/** The distinct emails of the file's valid rows: what the users table must hold after an import. */
async function validKeys(path: string): Promise<Set<string>> {
  const reader = await openCsv(createReadStream(path));
  const at = (column: string) => reader.header.indexOf(column);
  const keys = new Set<string>();
  for await (const batch of reader.batches) {
    for (const cells of batch) {
      const parsed = parseContact({ name: cells[at("name")] ?? "", email: cells[at("email")] ?? "", phone: cells[at("phone")] ?? "" });
      if ("key" in parsed) keys.add(parsed.key);
    }
  }
  return keys;
}

await main();
