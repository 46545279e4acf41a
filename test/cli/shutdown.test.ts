import assert from "node:assert/strict";
import { test } from "node:test";
import pg from "pg";
import { finished, newAccount, submitCsv } from "../helpers/actions.ts";
import {
  assertExactlyOnce,
  assertNoChunkHalfApplied,
  assertNothingLocked,
  backendsOf,
  chunkProgress,
  lockedJobs,
  stageImport,
  useWorkerProcesses,
} from "../helpers/recovery.ts";
import { until } from "../helpers/until.ts";

const f = useWorkerProcesses();
const worker = f.start;

async function runnerRow(id: string) {
  const { rows } = await f.ctx.db.knex.raw<{ rows: { dead_at: Date | null; recovered_by: string | null }[] }>(
    "select dead_at, recovered_by from bulkrun_private.runners where id = ?",
    [id],
  );
  return rows[0];
}

test("SIGTERM mid-import: running chunks finish, the process exits 0 within the grace period, and another worker finishes the action", async () => {
  const graceMs = 5000;
  const account = await newAccount(f.ctx);
  const { action, expectedUsers } = await stageImport(f.ctx, account.id, 60_000, 1000);
  const first = await worker({ BULKRUN_SHUTDOWN_GRACE_MS: String(graceMs) });
  await until("some chunks done", async () => (await chunkProgress(f.ctx, action.id)).done >= 5);
  const signalled = Date.now();
  first.child.kill("SIGTERM");
  const result = await first.result;
  const stoppedIn = Date.now() - signalled;
  assert.equal(result.code, 0, result.stderr);
  assert.ok(stoppedIn < graceMs, `stopped in ${stoppedIn} ms`);
  assert.match(result.stderr, /SIGTERM: finishing running chunks, then stopping/);
  assert.doesNotMatch(result.stderr, /grace period/);
  assert.equal(await lockedJobs(f.ctx), 0);
  assert.equal(await runnerRow(first.poolId), undefined, "a runner that stopped cleanly leaves no row");
  const progress = await chunkProgress(f.ctx, action.id);
  assert.ok(progress.done < progress.total, "chunks were left for the next worker");
  await assertNoChunkHalfApplied(f.ctx, action.id, account.id);

  const second = await worker({});
  assert.equal((await finished(f.ctx, action.id, 60_000)).status, "completed");
  await assertExactlyOnce(f.ctx, action.id, account.id, expectedUsers);
  second.child.kill("SIGTERM");
  assert.equal((await second.result).code, 0);
  console.error(`SIGTERM: graceful stop took ${stoppedIn} ms`);
});

test("a chunk still running when the grace period ends is rolled back, its job released, and it runs again elsewhere", async () => {
  const graceMs = 1000;
  const account = await newAccount(f.ctx);
  const emails = Array.from({ length: 40 }, (_, i) => `grace${i}@example.com`);
  // An uncommitted insert of one of the file's users: the chunk holding that email waits on it.
  const blocker = new pg.Client({ connectionString: f.ctx.url });
  await blocker.connect();
  try {
    await blocker.query("begin");
    await blocker.query("insert into bulkrun.users (account_id, email) values ($1, $2)", [account.id, emails[17]]);
    const action = await submitCsv(f.ctx, { accountId: account.id, chunkSize: 10 }, `email\n${emails.join("\n")}\n`);
    const stuck = await worker({ BULKRUN_SHUTDOWN_GRACE_MS: String(graceMs) });
    await until("the chunk waiting on the lock", async () => (await backendsOf(f.ctx, stuck.pid)).some((b) => b.wait_event_type === "Lock"));
    await until("the other chunks done", async () => (await chunkProgress(f.ctx, action.id)).done === (await chunkProgress(f.ctx, action.id)).total - 1);
    // The other chunks' jobs are marked completed just after their chunks commit.
    await until("only the stuck chunk's job locked", async () => (await lockedJobs(f.ctx, stuck.poolId)) === 1);

    const signalled = Date.now();
    stuck.child.kill("SIGTERM");
    const result = await stuck.result;
    const stoppedIn = Date.now() - signalled;
    assert.equal(result.code, 0, result.stderr);
    assert.ok(stoppedIn >= graceMs && stoppedIn < graceMs + 3000, `stopped in ${stoppedIn} ms`);
    assert.match(result.stderr, /jobs still running after the 1000 ms grace period: rolling them back to run again\n1 job\(s\) released to run again, 1 open transaction\(s\) rolled back\n/);
    assert.equal(await lockedJobs(f.ctx), 0);
    const { rows } = await f.ctx.db.knex.raw<{ rows: { status: string; pending: number }[] }>(
      `select c.status, count(*) filter (where i.status = 'pending')::int as pending
         from bulkrun.bulk_action_chunks c
         join bulkrun.bulk_action_items i on i.action_id = c.action_id and i.row_number between c.row_from and c.row_to
        where c.action_id = ? and c.status <> 'done' group by c.id, c.status`,
      [action.id],
    );
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.status, "pending");
    assert.ok(rows[0]!.pending > 0);
    await assertNoChunkHalfApplied(f.ctx, action.id, account.id);
    assert.equal((await backendsOf(f.ctx, stuck.pid)).length, 0, "the stopped worker left no connection behind");

    await blocker.query("rollback");
    const next = await worker({});
    assert.equal((await finished(f.ctx, action.id, 30_000)).status, "completed");
    await assertExactlyOnce(f.ctx, action.id, account.id, emails.length);
    next.child.kill("SIGTERM");
    assert.equal((await next.result).code, 0);
    console.error(`SIGTERM past the grace period: forced stop took ${stoppedIn} ms (grace ${graceMs} ms)`);
  } finally {
    await blocker.end();
  }
});

test("a worker whose Graphile Worker pool stops on purpose (a newer version migrated its schema) exits non-zero, for a supervisor to restart it", async () => {
  const stopping = await worker({});
  await f.ctx.db.knex.raw(`select pg_notify('worker:migrate', '{"migrationNumber": 999999, "breaking": true}')`);
  const result = await stopping.result;
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, /the worker pool stopped by itself/);
  assert.match(
    result.stderr,
    /bulkrun: the worker pool stopped by itself, as Graphile Worker does when a newer version migrated its schema; exiting so that a supervisor starts this runner afresh \[BULKRUN_ERR_WORKER_STOPPED\]\n$/,
  );
  const row = await runnerRow(stopping.poolId);
  assert.ok(row?.dead_at, "it declared itself dead");
  assert.equal(row.recovered_by, stopping.poolId);
  await assertNothingLocked(f.ctx);
});
