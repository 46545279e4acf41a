import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { controlAction } from "../../runner/engine/control.ts";
import { findAction } from "../../runner/engine/actions.ts";
import { runChunk } from "../../runner/engine/chunk.ts";
import { failChunk } from "../../runner/engine/fail-chunk.ts";
import { prepareAction } from "../../runner/engine/prepare.ts";
import { newAccount, submitCsv } from "../helpers/actions.ts";
import { testRuntime, type TestRuntime } from "../helpers/runtime.ts";
import { until } from "../helpers/until.ts";

// No worker: the tests run the jobs themselves, in the order they need, or look at them queued.
let ctx: TestRuntime;
before(async () => {
  ctx = await testRuntime({ worker: { chunkAttempts: 3 } });
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
