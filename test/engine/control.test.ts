import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import usersImport from "../../plugins/users-import/index.ts";
import { controlAction } from "../../runner/engine/control.ts";
import { finished, ledger, newAccount, submitCsv, users } from "../helpers/actions.ts";
import { testRuntime, type TestRuntime } from "../helpers/runtime.ts";
import { blockingImport, slowImport } from "../helpers/slow-plugin.ts";
import { until } from "../helpers/until.ts";

let ctx: TestRuntime;

before(async () => {
  ctx = await testRuntime({ plugins: [usersImport, slowImport, blockingImport] });
  await ctx.startWorker();
});
after(() => ctx.close());

const csv = (n: number, prefix = "u") => ["name,email", ...Array.from({ length: n }, (_, i) => `N${i},${prefix}${i}@example.com`)].join("\n");

async function chunksDone(actionId: number): Promise<number> {
  const { rows } = await ctx.db.knex.raw("select count(*)::int as n from bulkrun.bulk_action_chunks where action_id = ? and status = 'done'", [actionId]);
  return rows[0].n;
}


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function tallies(actionId: number) {
  const { rows } = await ctx.db.knex.raw(
    "select status, count(*)::int as n from bulkrun.bulk_action_items where action_id = ? group by status order by status",
    [actionId],
  );
  return Object.fromEntries(rows.map((r: { status: string; n: number }) => [r.status, r.n]));
}

describe("dry runs", () => {
  test("a dry run reports what would happen, writes nothing, and `run` applies exactly that plan", async () => {
    const account = await newAccount(ctx);
    await finished(ctx, (await submitCsv(ctx, { accountId: account.id }, "name,email\nOld,a@example.com\nSame,b@example.com\n")).id);
    const before = await users(ctx, account.id);
    const input = "name,email\nNew,a@example.com\nSame,b@example.com\nC,c@example.com\nBad,nope\n";
    const dry = await finished(ctx, (await submitCsv(ctx, { accountId: account.id, dryRun: true }, input)).id);
    assert.deepEqual([dry.status, dry.dry_run, dry.created, dry.updated, dry.skipped, dry.failed], ["completed", true, 1, 1, 1, 1]);
    assert.deepEqual((await ledger(ctx, dry.id)).map((e) => [e.outcome, e.entity_id]), [["updated", null], ["unchanged", null], ["created", null], ["invalid", null]]);
    assert.deepEqual(await users(ctx, account.id), before);
    const applied = await controlAction(ctx.db.knex, "apply", dry.id);
    const done = await finished(ctx, applied.id);
    assert.deepEqual([done.parent_id, done.dry_run, done.created, done.updated, done.skipped, done.failed], [dry.id, false, 1, 1, 1, 1]);
    assert.deepEqual((await ledger(ctx, done.id)).map((e) => [e.row_number, e.outcome]), [[1, "updated"], [2, "unchanged"], [3, "created"], [4, "invalid"]]);
    assert.deepEqual((await users(ctx, account.id)).map((u) => [u.email, u.name]), [["a@example.com", "New"], ["b@example.com", "Same"], ["c@example.com", "C"]]);
  });

  test("only a completed dry run can be applied", async () => {
    const account = await newAccount(ctx);
    const real = await finished(ctx, (await submitCsv(ctx, { accountId: account.id }, "email\na@example.com\n")).id);
    await assert.rejects(controlAction(ctx.db.knex, "apply", real.id), {
      code: "BULKRUN_ERR_INVALID_TRANSITION",
      message: `bulk action ${real.id} is not a completed dry run`,
    });
  });
});

describe("pause, resume and cancel", () => {
  test("pause stops taking chunks without half-applied ones; resume finishes with exact counts", async () => {
    const account = await newAccount(ctx);
    const action = await submitCsv(ctx, { accountId: account.id, type: "test.slow_import", chunkSize: 20, options: { delay_ms: 100 } }, csv(400));
    await until("two chunks done", async () => (await chunksDone(action.id)) >= 2);
    const paused = await controlAction(ctx.db.knex, "pause", action.id);
    assert.equal(paused.status, "paused");
    await sleep(400);
    const doneWhilePaused = await chunksDone(action.id);
    await sleep(600);
    assert.equal(await chunksDone(action.id), doneWhilePaused);
    assert.ok(doneWhilePaused < 20, `expected the pause to stop the action early, ${doneWhilePaused} chunks done`);
    const items = await tallies(action.id);
    assert.equal((await users(ctx, account.id)).length, items.succeeded);
    assert.equal(items.succeeded + items.pending, 400);
    await controlAction(ctx.db.knex, "resume", action.id);
    const done = await finished(ctx, action.id);
    assert.deepEqual([done.status, done.created, done.processed], ["completed", 400, 400]);
    assert.deepEqual(await tallies(action.id), { succeeded: 400 });
  });

  test("cancel ends the action: running chunks commit, the rest stay pending in the ledger", async () => {
    const account = await newAccount(ctx);
    const action = await submitCsv(ctx, { accountId: account.id, type: "test.slow_import", chunkSize: 20, options: { delay_ms: 100 } }, csv(400));
    await until("two chunks done", async () => (await chunksDone(action.id)) >= 2);
    const cancelled = await controlAction(ctx.db.knex, "cancel", action.id);
    assert.equal(cancelled.status, "cancelled");
    await sleep(500);
    const settled = await users(ctx, account.id);
    await sleep(500);
    assert.equal((await users(ctx, account.id)).length, settled.length);
    const done = await finished(ctx, action.id);
    assert.equal(done.status, "cancelled");
    const items = await tallies(action.id);
    assert.equal(items.succeeded, settled.length);
    assert.equal(done.created, settled.length);
    assert.ok(items.pending > 0 && items.succeeded + items.pending === 400, JSON.stringify(items));
    await assert.rejects(controlAction(ctx.db.knex, "resume", action.id), { code: "BULKRUN_ERR_INVALID_TRANSITION" });
  });
});

describe("retry", () => {
  test("retry starts a child action with only the rows that failed when applied", async () => {
    const account = await newAccount(ctx);
    const input = "email\nok1@example.com\nblocked1@example.com\nnot-an-email\nok2@example.com\nblocked2@example.com\n";
    const first = await finished(ctx, (await submitCsv(ctx, { accountId: account.id, type: "test.blocking_import" }, input)).id);
    assert.deepEqual([first.created, first.failed], [2, 3]);
    await ctx.db.knex.raw("create table if not exists test_unblocked ()");
    try {
      const child = await controlAction(ctx.db.knex, "retry", first.id);
      assert.equal(child.parent_id, first.id);
      const done = await finished(ctx, child.id);
      assert.deepEqual([done.status, done.total, done.created, done.failed], ["completed", 2, 2, 0]);
      assert.deepEqual((await ledger(ctx, done.id)).map((e) => [e.row_number, e.outcome]), [[2, "created"], [5, "created"]]);
      assert.equal((await users(ctx, account.id)).length, 4);
      await assert.rejects(controlAction(ctx.db.knex, "retry", done.id), {
        message: `bulk action ${done.id} has no failed rows to retry (rows that were invalid need a corrected file)`,
      });
    } finally {
      await ctx.db.knex.raw("drop table test_unblocked");
    }
  });
});

describe("fairness and priority", () => {
  test("a small action started behind a large one finishes within a few chunk-times", async () => {
    const big = await newAccount(ctx);
    const small = await newAccount(ctx);
    const large = await submitCsv(ctx, { accountId: big.id, type: "test.slow_import", chunkSize: 10, options: { delay_ms: 100 } }, csv(600, "big"));
    await until("two chunks of the large action done", async () => (await chunksDone(large.id)) >= 2);
    const tiny = await submitCsv(ctx, { accountId: small.id, type: "test.slow_import", chunkSize: 10, options: { delay_ms: 100 } }, csv(10, "small"));
    const bigDoneAtStart = await chunksDone(large.id);
    const done = await finished(ctx, tiny.id);
    assert.equal(done.status, "completed");
    const bigDoneAtEnd = await chunksDone(large.id);
    assert.ok(bigDoneAtEnd - bigDoneAtStart <= 6, `the large action ran ${bigDoneAtEnd - bigDoneAtStart} chunks before the small one finished`);
    await controlAction(ctx.db.knex, "cancel", large.id);
  });

  test("a higher priority action's chunks run before a lower one's", async () => {
    const account = await newAccount(ctx);
    const low = await submitCsv(ctx, { accountId: account.id, type: "test.slow_import", chunkSize: 10, options: { delay_ms: 50 } }, csv(200, "low"));
    await until("a chunk of the low-priority action done", async () => (await chunksDone(low.id)) >= 1);
    const high = await submitCsv(ctx, { accountId: account.id, type: "test.slow_import", chunkSize: 10, priority: 10, options: { delay_ms: 50 } }, csv(200, "high"));
    const lowAtStart = await chunksDone(low.id);
    await finished(ctx, high.id);
    assert.ok((await chunksDone(low.id)) - lowAtStart <= 4, "low-priority chunks ran while high-priority ones waited");
    await finished(ctx, low.id);
  });
});
