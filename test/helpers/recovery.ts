import assert from "node:assert/strict";
import { createReadStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeSeedCsv, type SeedSummary } from "../../runner/engine/seed.ts";
import { submitFile } from "../../runner/engine/submit.ts";
import { after, before } from "node:test";
import { startCli, type RunningCli } from "./cli.ts";
import { testRuntime, type TestRuntime } from "./runtime.ts";
import { until } from "./until.ts";

/** A `bulkrun worker` process started with extra environment (BULKRUN_HEARTBEAT_MS, ...). */
export interface WorkerProcess extends RunningCli {
  pid: number;
  poolId: string;
  /** What it printed on stderr so far. */
  stderr(): string;
}

/** Starts `bulkrun worker` against the test's database and waits until it runs. */
export async function startWorkerProcess(ctx: TestRuntime, env: Record<string, string> = {}): Promise<WorkerProcess> {
  // startCli hands this process's environment to the child.
  const saved = { ...process.env };
  Object.assign(process.env, env);
  let cli: RunningCli;
  try {
    cli = startCli(["worker"], { databaseUrl: ctx.url, timeoutMs: 120_000 });
  } finally {
    for (const key of Object.keys(env)) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
  }
  let stderr = "";
  cli.child.stderr!.on("data", (chunk: string) => (stderr += chunk));
  const announced = /running \(pid \d+, pool (\S+),/;
  await cli.stderrMatches(announced);
  return { ...cli, pid: cli.child.pid!, poolId: announced.exec(stderr)![1]!, stderr: () => stderr };
}

/** A test file's runtime, and the `bulkrun worker` processes its tests start against it. */
export interface WorkerProcesses {
  /** Set before the file's first test. */
  readonly ctx: TestRuntime;
  start(env?: Record<string, string>): Promise<WorkerProcess>;
}

/**
 * Registers the file's hooks: the runtime is made before its tests; after them every worker
 * process started is killed (SIGKILL: a test may have left one hanging) and the runtime closed.
 */
export function useWorkerProcesses(): WorkerProcesses {
  let ctx: TestRuntime | undefined;
  const processes: WorkerProcess[] = [];
  before(async () => {
    ctx = await testRuntime();
  });
  after(async () => {
    for (const p of processes) p.child.kill("SIGKILL");
    await ctx?.close();
  });
  return {
    get ctx() {
      return ctx!;
    },
    async start(env = {}) {
      const started = await startWorkerProcess(ctx!, env);
      processes.push(started);
      return started;
    },
  };
}

/** Writes a seeded CSV of `rows` users and stages it as one import with small chunks. */
export async function stageImport(ctx: TestRuntime, accountId: number, rows: number, chunkSize: number) {
  const dir = await mkdtemp(join(tmpdir(), "bulkrun-recovery-"));
  try {
    const file = join(dir, "users.csv");
    const seed: SeedSummary = await writeSeedCsv(file, { rows, duplicates: 2, invalid: 1, seed: 7 });
    const action = await submitFile(ctx, { type: "users.import", accountId, chunkSize }, createReadStream(file), "users.csv");
    return { action, seed, expectedUsers: seed.rows - seed.duplicates - seed.invalid };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** How far an action's chunks are. */
export async function chunkProgress(ctx: TestRuntime, actionId: number) {
  const { rows } = await ctx.db.knex.raw<{ rows: { done: number; total: number }[] }>(
    "select count(*) filter (where status = 'done')::int as done, count(*)::int as total from bulkrun.bulk_action_chunks where action_id = ?",
    [actionId],
  );
  return rows[0]!;
}

/** Jobs locked by `poolId`, or by anyone. */
export async function lockedJobs(ctx: TestRuntime, poolId?: string): Promise<number> {
  const { rows } = await ctx.db.knex.raw<{ rows: { n: number }[] }>(
    "select count(*)::int as n from graphile_worker.jobs where locked_by is not null and (?::text is null or locked_by = ?)",
    [poolId ?? null, poolId ?? null],
  );
  return rows[0]!.n;
}

/** The backends of a process, found by the application name bulkrun gives its connections. */
export async function backendsOf(ctx: TestRuntime, pid: number) {
  const { rows } = await ctx.db.knex.raw<{ rows: { pid: number; state: string; query: string; wait_event_type: string | null }[] }>(
    "select pid, state, query, wait_event_type from pg_stat_activity where application_name like ? and datname = current_database()",
    [`bulkrun ${pid} %`],
  );
  return rows;
}

/**
 * Every chunk is all or nothing: a done chunk has no pending row left, a pending one has none
 * applied (duplicates in its range were skipped when the action was prepared); and the ledger's applied rows are exactly the users in the table.
 */
export async function assertNoChunkHalfApplied(ctx: TestRuntime, actionId: number, accountId: number): Promise<void> {
  const { rows } = await ctx.db.knex.raw<{ rows: { id: number; status: string; pending: number; decided: number }[] }>(
    `select c.id, c.status,
            count(*) filter (where i.status = 'pending')::int as pending,
            count(*) filter (where i.status = 'succeeded' or i.outcome is distinct from 'duplicate_in_file' and i.status = 'skipped')::int as decided
       from bulkrun.bulk_action_chunks c
       join bulkrun.bulk_action_items i on i.action_id = c.action_id and i.row_number between c.row_from and c.row_to
      where c.action_id = ?
      group by c.id, c.status`,
    [actionId],
  );
  for (const chunk of rows) {
    if (chunk.status === "done") assert.equal(chunk.pending, 0, `done chunk ${chunk.id} has pending rows`);
    else assert.equal(chunk.decided, 0, `pending chunk ${chunk.id} has applied rows`);
  }
  const { rows: counts } = await ctx.db.knex.raw<{ rows: { succeeded: number; users: number }[] }>(
    `select (select count(*)::int from bulkrun.bulk_action_items where action_id = ? and status = 'succeeded') as succeeded,
            (select count(*)::int from bulkrun.users where account_id = ?) as users`,
    [actionId, accountId],
  );
  assert.equal(counts[0]!.succeeded, counts[0]!.users, "rows applied per the ledger differ from the users in the table");
}

/**
 * The action completed and every row took effect exactly once: one user per distinct valid
 * email, none written twice, one final outcome per ledger row, counters equal to the ledger.
 */
export async function assertExactlyOnce(ctx: TestRuntime, actionId: number, accountId: number, expectedUsers: number): Promise<void> {
  const { rows: actions } = await ctx.db.knex.raw<{
    rows: { status: string; total: number; processed: number; created: number; updated: number; skipped: number; failed: number }[];
  }>("select status, total, processed, created, updated, skipped, failed from bulkrun.bulk_actions where id = ?", [actionId]);
  const action = actions[0]!;
  assert.equal(action.status, "completed");
  const { rows: tallies } = await ctx.db.knex.raw<{ rows: Record<string, number>[] }>(
    `select count(*)::int as total,
            count(*) filter (where status <> 'pending')::int as processed,
            count(*) filter (where status = 'pending')::int as pending,
            count(*) filter (where outcome = 'created')::int as created,
            count(*) filter (where status = 'succeeded' and outcome <> 'created')::int as updated,
            count(*) filter (where status = 'skipped')::int as skipped,
            count(*) filter (where status = 'failed')::int as failed,
            count(distinct entity_id) filter (where outcome = 'created')::int as created_ids
       from bulkrun.bulk_action_items where action_id = ?`,
    [actionId],
  );
  const ledger = tallies[0]!;
  assert.equal(ledger.pending, 0, "ledger rows left pending");
  assert.deepEqual(
    { total: action.total, processed: action.processed, created: action.created, updated: action.updated, skipped: action.skipped, failed: action.failed },
    { total: ledger.total, processed: ledger.processed, created: ledger.created, updated: ledger.updated, skipped: ledger.skipped, failed: ledger.failed },
    "counters differ from the ledger",
  );
  const { rows: users } = await ctx.db.knex.raw<{ rows: { n: number; rewritten: number }[] }>(
    "select count(*)::int as n, count(*) filter (where created_at <> updated_at)::int as rewritten from bulkrun.users where account_id = ?",
    [accountId],
  );
  assert.equal(users[0]!.n, expectedUsers, "users in the table");
  assert.equal(users[0]!.rewritten, 0, "users written more than once");
  assert.equal(action.created, expectedUsers, "created counter");
  assert.equal(ledger.created_ids, expectedUsers, "users created by distinct ledger rows");
  const { rows: chunks } = await ctx.db.knex.raw<{ rows: { n: number }[] }>(
    "select count(*)::int as n from bulkrun.bulk_action_chunks where action_id = ? and status <> 'done'",
    [actionId],
  );
  assert.equal(chunks[0]!.n, 0, "chunks not done");
}

/** Nothing left locked in Graphile Worker's queue (jobs finishing right now get a moment). */
export async function assertNothingLocked(ctx: TestRuntime): Promise<void> {
  await until("no locked jobs", async () => (await lockedJobs(ctx)) === 0, 5000);
}
