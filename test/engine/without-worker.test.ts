import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import usersImport from "../../plugins/users-import/index.ts";
import { findAction } from "../../runner/engine/actions.ts";
import { runChunk } from "../../runner/engine/chunk.ts";
import { controlAction } from "../../runner/engine/control.ts";
import { endExhaustedJobs } from "../../runner/engine/exhausted.ts";
import { failChunk } from "../../runner/engine/fail-chunk.ts";
import { prepareAction } from "../../runner/engine/prepare.ts";
import { defineAction } from "../../runner/plugin.ts";
import { newAccount, submitCsv } from "../helpers/actions.ts";
import { testRuntime, type TestRuntime } from "../helpers/runtime.ts";
import { EMAIL_ROWS } from "../helpers/slow-plugin.ts";
import { until } from "../helpers/until.ts";

/** Fails its first chunk transaction (after writing), then works. */
let failNext = true;
const flaky = defineAction({
  name: "test.flaky",
  description: "fails once",
  options: {},
  outcomes: { created: "created" },
  csv: EMAIL_ROWS,
  async processChunk({ db, staged, accountId }) {
    const { rows } = await db.raw<{ rows: { row_number: number; id: number }[] }>(
      `with s as (select row_number, data->>'email' as email from ${staged}),
            w as (insert into bulkrun.users (account_id, email) select ?, email from s returning id, email)
       select s.row_number, w.id from s join w using (email)`,
      [accountId],
    );
    if (failNext) {
      failNext = false;
      throw new Error("the network blinked");
    }
    return rows.map((r) => ({ row: r.row_number, outcome: "created" as const, entityId: r.id }));
  },
});

// No worker: the tests run the jobs themselves, in the order they need, or look at them queued.
// Rate limits refill over an hour here, so a bucket holds what the test left in it.
let ctx: TestRuntime;
before(async () => {
  ctx = await testRuntime({ plugins: [usersImport, flaky], worker: { chunkAttempts: 3 }, rateLimitWindowMs: 3_600_000 });
});
after(() => ctx.close());

/** Waits until some backend waits for a lock that the backend `pid` holds. */
const blocking = (pid: number) =>
  until(`a transaction waiting for backend ${pid}`, async () => {
    const { rows } = await ctx.db.knex.raw("select count(*)::int as n from pg_stat_activity where ? = any(pg_blocking_pids(pid))", [pid]);
    return rows[0].n > 0;
  });

test("the last chunk to finish sees a chunk that failed on its last attempt just before, and fails the action", async () => {
  const account = await newAccount(ctx);
  const action = await submitCsv(ctx, { accountId: account.id, chunkSize: 1 }, "email\na@example.com\nb@example.com\n");
  await prepareAction(ctx, action.id, false);
  const [first, last] = await ctx.db.knex("bulkrun.bulk_action_chunks").where({ action_id: action.id }).orderBy("seq").pluck("id");
  // Another transaction holds the action's row: the failing chunk, then the last one, queue behind it.
  const holder = await ctx.db.pool.connect();
  try {
    await holder.query("begin");
    await holder.query("select 1 from bulkrun.bulk_actions where id = $1 for update", [action.id]);
    const { pid } = (await holder.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]!;
    const failing = failChunk(ctx, first, new Error("the disk is on fire"), 5);
    await blocking(pid);
    const applying = runChunk(ctx, last, "test", 1);
    await until("both chunks waiting for the action's row", async () => {
      const { rows } = await ctx.db.knex.raw("select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()");
      return rows[0].n >= 2;
    });
    await holder.query("commit");
    await Promise.all([failing, applying]);
  } finally {
    holder.release();
  }
  const done = (await findAction(ctx.db.knex, action.id))!;
  assert.deepEqual([done.status, done.error_code, done.created, done.failed], ["failed", "BULKRUN_ERR_CHUNK_FAILED", 1, 1]);
});

test("resuming an action enqueues its pending chunks with the configured attempt limit", async () => {
  const account = await newAccount(ctx);
  const action = await submitCsv(ctx, { accountId: account.id, chunkSize: 1 }, "email\na@example.com\nb@example.com\n");
  await prepareAction(ctx, action.id, false);
  const limits = async () => {
    const { rows } = await ctx.db.knex.raw(
      `select j.max_attempts from graphile_worker.jobs j join bulkrun.bulk_action_chunks c on j.key = 'bulkrun.chunk:' || c.id
        where c.action_id = ? order by c.seq`,
      [action.id],
    );
    return rows.map((r: { max_attempts: number }) => r.max_attempts);
  };
  assert.deepEqual(await limits(), [3, 3]);
  await controlAction(ctx.db.knex, "pause", action.id);
  await controlAction(ctx.db.knex, "resume", action.id);
  assert.deepEqual(await limits(), [3, 3]);
});

test("a chunk whose transaction fails gives its rate-limit tokens back: its next attempt does not wait for them", async () => {
  const account = await newAccount(ctx);
  await ctx.db.knex("bulkrun.accounts").where({ id: account.id }).update({ rate_limit_per_minute: 1000 });
  const emails = Array.from({ length: 100 }, (_, i) => `u${i}@example.com`);
  const action = await submitCsv(ctx, { accountId: account.id, type: "test.flaky", chunkSize: 100 }, ["email", ...emails].join("\n"));
  await prepareAction(ctx, action.id, false);
  const [chunk] = await ctx.db.knex("bulkrun.bulk_action_chunks").where({ action_id: action.id }).pluck("id");
  await assert.rejects(runChunk(ctx, chunk, "test", 1), /the network blinked/);
  assert.equal(await runChunk(ctx, chunk, "test", 2), undefined, "applied at once, not told to wait");
  const done = (await findAction(ctx.db.knex, action.id))!;
  assert.deepEqual([done.status, done.created], ["completed", 100]);
});

test("a chunk job that enqueued its successor to wait for tokens, then lost its runner, leaves only the successor", async () => {
  const account = await newAccount(ctx);
  const action = await submitCsv(ctx, { accountId: account.id, chunkSize: 10 }, "email\na@example.com\n");
  await prepareAction(ctx, action.id, false);
  const [chunk] = await ctx.db.knex("bulkrun.bulk_action_chunks").where({ action_id: action.id }).pluck("id");
  const key = `bulkrun.chunk:${chunk}`;
  // A runner takes the job, as Graphile Worker's get_job does; the chunk finds no tokens and
  // enqueues itself for later under its key, as the task does; then the runner dies and its
  // jobs are released.
  await ctx.db.knex.raw("update graphile_worker._private_jobs set locked_at = now(), locked_by = 'pool-gone', attempts = attempts + 1 where key = ?", [key]);
  await ctx.db.knex.raw("select graphile_worker.add_job('bulkrun.chunk', json_build_object('chunkId', ?::bigint), job_key := ?, run_at := now() + interval '1 minute')", [chunk, key]);
  await ctx.db.knex.raw("select graphile_worker.force_unlock_workers(array['pool-gone'])");
  const jobs = async () => {
    const { rows } = await ctx.db.knex.raw("select key, attempts, run_at > now() as later from graphile_worker._private_jobs where payload->>'chunkId' = ? order by id", [String(chunk)]);
    return rows;
  };
  assert.equal((await jobs()).length, 2, "the retired job and its successor");
  assert.deepEqual(await endExhaustedJobs(ctx), { chunks: [], actions: [] });
  assert.deepEqual(await jobs(), [{ key, attempts: 0, later: true }]);
  assert.equal((await ctx.db.knex("bulkrun.bulk_action_chunks").where({ id: chunk }).first()).status, "pending");
});
