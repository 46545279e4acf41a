import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { finished, newAccount, submitCsv } from "../helpers/actions.ts";
import {
  assertExactlyOnce,
  assertNothingLocked,
  backendsOf,
  chunkProgress,
  stageImport,
  startWorkerProcess,
  until,
  type WorkerProcess,
} from "../helpers/recovery.ts";
import { testRuntime, type TestRuntime } from "../helpers/runtime.ts";

let ctx: TestRuntime;
let worker: WorkerProcess | undefined;

before(async () => {
  ctx = await testRuntime();
});
after(async () => {
  worker?.child.kill("SIGKILL");
  await ctx.close();
});

/** What a Postgres restart looks like to a client: every connection of the process dropped. */
async function dropConnections(pid: number): Promise<number> {
  const { rows } = await ctx.db.knex.raw<{ rows: { n: number }[] }>(
    `select count(*) filter (where pg_terminate_backend(pid))::int as n from pg_stat_activity
      where application_name like ? and datname = current_database()`,
    [`bulkrun ${pid} %`],
  );
  return rows[0]!.n;
}

test("connections dropped under a running worker are logged, the worker keeps going, and the action completes exactly once", async () => {
  const account = await newAccount(ctx);
  const { action, expectedUsers } = await stageImport(ctx, account.id, 60_000, 1000);
  worker = await startWorkerProcess(ctx, { BULKRUN_HEARTBEAT_MS: "200", BULKRUN_DEAD_AFTER_MS: "2000" });
  const { pid } = worker;

  await until("some chunks done", async () => (await chunkProgress(ctx, action.id)).done >= 5);
  const first = await dropConnections(pid);
  await until("more chunks done", async () => (await chunkProgress(ctx, action.id)).done >= 25);
  const second = await dropConnections(pid);
  assert.ok(first >= 2 && second >= 2, `dropped ${first} and ${second} connections`);

  assert.equal((await finished(ctx, action.id, 60_000)).status, "completed");
  await assertExactlyOnce(ctx, action.id, account.id, expectedUsers);
  await assertNothingLocked(ctx);
  assert.equal(worker.child.exitCode, null, "the worker is still running");
  assert.match(worker.stderr(), /database connection (lost|error): terminating connection due to administrator command/);
  assert.match(worker.stderr(), /Error with notify listener \(trying again in \d+ms\)/);

  await until("LISTEN again", async () => (await backendsOf(ctx, pid)).some((b) => b.query.startsWith("LISTEN")));
  const { rows } = await ctx.db.knex.raw("select dead_at from bulkrun_private.runners where id = ?", [worker.poolId]);
  assert.equal(rows[0].dead_at, null, "its heartbeat kept it alive");
  const later = await submitCsv(ctx, { accountId: account.id }, "email\nafter-restart@example.com\n");
  assert.equal((await finished(ctx, later.id, 10_000)).status, "completed");

  worker.child.kill("SIGTERM");
  const result = await worker.result;
  assert.equal(result.code, 0, result.stderr);
  console.error(`dropped ${first} then ${second} connections; worker log:\n${result.stderr}`);
});
