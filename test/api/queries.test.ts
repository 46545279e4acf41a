import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startHeartbeat, type Heartbeat } from "../../runner/engine/heartbeat.ts";
import { pruneLedgers } from "../../runner/engine/prune.ts";
import { finished, submitCsv } from "../helpers/actions.ts";
import { apiFixture, type ApiFixture } from "./client.ts";

let f: ApiFixture;
let heartbeat: Heartbeat;
let done: number;

before(async () => {
  f = await apiFixture();
  await f.ctx.startWorker();
  heartbeat = await startHeartbeat(f.ctx.db.knex, "api-test-runner", ["worker"]);
  await f.ctx.db.knex("bulkrun.accounts").where({ id: f.a.id }).update({ rate_limit_per_minute: 1000 });
  const csv = "name,email\nAda,ada@example.com\nBad,not-an-email\nAda Again,ADA@example.com\nBo,bo@example.com\n";
  done = (await finished(f.ctx, (await submitCsv(f.ctx, { accountId: f.a.id }, csv)).id)).id;
});
after(async () => {
  await heartbeat.stop();
  await f.close();
});

describe("queries", () => {
  test("an action shows progress, rate, its counters by outcome, its ledger filtered by status and its chunks", async () => {
    const result = await f.gql(f.a.token, `query ($id: BigInt!) {
      bulkActionByRowId(rowId: $id) {
        status total processed created failed skipped progress rowsPerSecond eta
        outcomeCounts { nodes { status outcome rows } }
        failedRows: bulkActionItemsByActionId(condition: { status: "failed" }) { nodes { rowNumber outcome error data } }
        bulkActionChunksByActionId { totalCount nodes { status rows } }
      }
    }`, { id: String(done) });
    assert.equal(result.errors, undefined);
    const action = result.data.bulkActionByRowId;
    assert.deepEqual(
      [action.status, action.total, action.processed, action.created, action.failed, action.skipped, action.progress],
      ["completed", "4", "4", "2", "1", "1", 1],
    );
    assert.ok(action.rowsPerSecond > 0);
    assert.equal(action.eta, null);
    assert.deepEqual(action.outcomeCounts.nodes, [
      { status: "failed", outcome: "invalid", rows: "1" },
      { status: "skipped", outcome: "duplicate_in_file", rows: "1" },
      { status: "succeeded", outcome: "created", rows: "2" },
    ]);
    assert.deepEqual(action.failedRows.nodes, [
      { rowNumber: 2, outcome: "invalid", error: "email `not-an-email` is not an email address", data: { name: "Bad", email: "not-an-email" } },
    ]);
    assert.equal(action.bulkActionChunksByActionId.nodes.every((c: { status: string }) => c.status === "done"), true);
  });

  test("actions filter by status, type and creation time, order, and page with cursors", async () => {
    const second = (await submitCsv(f.ctx, { accountId: f.a.id, dryRun: true }, "email\nz@example.com\n")).id;
    await finished(f.ctx, second);
    const third = (await submitCsv(f.ctx, { accountId: f.a.id, runAt: new Date(Date.now() + 3_600_000) }, "email\ny@example.com\n")).id;
    const page = (after?: string) =>
      f.gql(f.a.token, `query ($after: Cursor) {
        allBulkActions(first: 2, after: $after, orderBy: CREATED_AT_DESC) { totalCount pageInfo { hasNextPage endCursor } nodes { rowId } }
      }`, { after });
    const first = (await page()).data.allBulkActions;
    assert.deepEqual([first.totalCount, first.nodes.map((n: { rowId: string }) => Number(n.rowId)), first.pageInfo.hasNextPage], [3, [third, second], true]);
    const next = (await page(first.pageInfo.endCursor)).data.allBulkActions;
    assert.deepEqual([next.nodes.map((n: { rowId: string }) => Number(n.rowId)), next.pageInfo.hasNextPage], [[done], false]);

    const filtered = await f.gql(f.a.token, `query ($since: Datetime) {
      scheduled: allBulkActions(condition: { status: "scheduled", type: "users.import" }) { nodes { rowId } }
      recent: allBulkActions(condition: { createdAfter: $since }, orderBy: ROW_ID_ASC) { nodes { rowId } }
      none: allBulkActions(condition: { createdBefore: "2000-01-01T00:00:00Z" }) { totalCount }
    }`, { since: (await f.ctx.db.knex("bulkrun.bulk_actions").where({ id: second }).first()).created_at.toISOString() });
    assert.deepEqual(filtered.data, {
      scheduled: { nodes: [{ rowId: String(third) }] },
      recent: { nodes: [{ rowId: String(second) }, { rowId: String(third) }] },
      none: { totalCount: 0 },
    });
  });

  test("an account shows its rate limit and rows available; queue depth and runners are scoped", async () => {
    const result = await f.gql(f.a.token, `{
      allAccounts { nodes { name rateLimitPerMinute rowsAvailable quotaFullAt } }
      queueDepth { queuedActions activeActions pendingChunks pendingRows }
      runnerProcesses { totalCount }
    }`);
    assert.equal(result.errors, undefined);
    const [account] = result.data.allAccounts.nodes;
    assert.equal(account.name, f.a.name);
    assert.equal(account.rateLimitPerMinute, 1000);
    assert.ok(account.rowsAvailable >= 0 && account.rowsAvailable <= 1000);
    assert.ok(account.quotaFullAt);
    assert.equal(result.data.runnerProcesses.totalCount, 0, "runners are for admin tokens");
    const admin = await f.gql(f.adminToken, "{ runnerProcesses { nodes { runnerId roles } } }");
    assert.deepEqual(admin.data.runnerProcesses.nodes, [{ runnerId: "api-test-runner", roles: ["worker"] }]);
  });

  test("a pruned action keeps its counters and shows ledgerState and ledgerPrunedAt; retryAction says its ledger was pruned", async () => {
    const id = (await finished(f.ctx, (await submitCsv(f.ctx, { accountId: f.a.id }, "email\npruned@example.com\nnot-an-email\n")).id)).id;
    await f.ctx.db.knex.raw("update bulkrun.bulk_actions set finished_at = now() - interval '2 days' where id = ?", [id]);
    await pruneLedgers(f.ctx.db, { olderThanMs: 86_400_000, keepFailed: false, accountId: f.a.id, batchSize: 100, ifBusy: "wait" });
    const result = await f.gql(f.a.token, `query ($id: BigInt!) {
      bulkActionByRowId(rowId: $id) { created failed ledgerState ledgerPrunedAt bulkActionItemsByActionId { totalCount } }
    }`, { id: String(id) });
    const { ledgerPrunedAt, ...action } = result.data.bulkActionByRowId;
    assert.deepEqual(action, { created: "1", failed: "1", ledgerState: "pruned", bulkActionItemsByActionId: { totalCount: 0 } });
    assert.match(ledgerPrunedAt, /^\d{4}-\d\d-\d\dT/);
    const retry = await f.gql(f.a.token, `mutation { retryAction(input: { actionId: "${id}" }) { result { rowId } } }`);
    assert.equal(retry.errors?.[0]?.extensions?.code, "BULKRUN_ERR_LEDGER_PRUNED");
    assert.match(retry.errors?.[0]?.message ?? "", new RegExp(`^the ledger of bulk action ${id} was pruned by ledger retention at \\S+: its failed rows are gone; its counts remain$`));
  });

  test("create mutations report bad input with the messages the CLI gives", async () => {
    const create = (bulkAction: string) =>
      f.gql(f.a.token, `mutation { createBulkAction(input: { bulkAction: ${bulkAction} }) { bulkAction { rowId } } }`);
    const unknownType = await create(`{ type: "users.imprt", source: { url: "https://example.com/a.csv" } }`);
    assert.deepEqual(unknownType.errors?.map((e) => [e.extensions?.code, e.message]), [
      ["BULKRUN_ERR_UNKNOWN_ACTION_TYPE", "no plugin handles action type `users.imprt` (known: users.import, users.update, users.delete, users.anonymize)"],
    ]);
    const badOption = await create(`{ type: "users.import", options: { on_conflit: "skip" }, source: { url: "https://example.com/a.csv" } }`);
    assert.deepEqual(badOption.errors?.map((e) => [e.extensions?.code, e.message]), [
      ["BULKRUN_ERR_OPTIONS", "users.import: unknown option `on_conflit`, did you mean `on_conflict`?"],
    ]);
    const badSource = await create(`{ type: "users.import", source: { url: "ftp://example.com/a.csv" } }`);
    assert.equal(badSource.errors?.[0]?.extensions?.code, "BULKRUN_ERR_SOURCE");
    const badCron = await f.gql(f.a.token, `mutation {
      createSchedule(input: { schedule: { cron: "61 * * * *", type: "users.import", source: { url: "https://example.com/a.csv" } } }) { schedule { rowId } }
    }`);
    assert.equal(badCron.errors?.[0]?.extensions?.code, "BULKRUN_ERR_SCHEDULE");
    assert.match(badCron.errors?.[0]?.message ?? "", /61/);
    const { count } = (await f.ctx.db.knex("bulkrun.schedules").count().first()) as { count: string };
    assert.equal(Number(count), 0);
  });

  test("a schedule update is checked too: a bad time zone keeps the schedule as it was", async () => {
    const created = await f.gql(f.a.token, `mutation {
      createSchedule(input: { schedule: { cron: "0 4 * * *", type: "users.import", source: { url: "https://example.com/b.csv" } } }) { schedule { rowId } }
    }`);
    const id = created.data.createSchedule.schedule.rowId;
    const bad = await f.gql(f.a.token, `mutation { updateScheduleByRowId(input: { rowId: "${id}", schedulePatch: { timeZone: "Mars/Olympus" } }) { schedule { timeZone } } }`);
    assert.equal(bad.errors?.[0]?.extensions?.code, "BULKRUN_ERR_SCHEDULE");
    assert.equal((await f.ctx.db.knex("bulkrun.schedules").where({ id }).first()).time_zone, "UTC");
    await f.ctx.db.knex("bulkrun.schedules").where({ id }).delete();
  });

  test("schedules: an account creates, updates, lists and deletes its own; another account sees none of them", async () => {
    const created = await f.gql(f.a.token, `mutation {
      createSchedule(input: { schedule: { cron: "0 3 * * *", timeZone: "Europe/Berlin", type: "users.import", source: { url: "https://example.com/a.csv" } } }) {
        schedule { rowId accountId cron enabled }
      }
    }`);
    assert.equal(created.errors, undefined);
    const schedule = created.data.createSchedule.schedule;
    assert.deepEqual([schedule.accountId, schedule.cron, schedule.enabled], [String(f.a.id), "0 3 * * *", true]);
    const updated = await f.gql(f.a.token, `mutation { updateScheduleByRowId(input: { rowId: "${schedule.rowId}", schedulePatch: { enabled: false } }) { schedule { enabled } } }`);
    assert.deepEqual(updated.data?.updateScheduleByRowId.schedule, { enabled: false });
    const theirs = await f.gql(f.b.token, `mutation { updateScheduleByRowId(input: { rowId: "${schedule.rowId}", schedulePatch: { enabled: true } }) { schedule { enabled } } }`);
    assert.equal(theirs.data?.updateScheduleByRowId?.schedule ?? null, null);
    const theirDelete = await f.gql(f.b.token, `mutation { deleteScheduleByRowId(input: { rowId: "${schedule.rowId}" }) { schedule { rowId } } }`);
    assert.equal(theirDelete.errors?.[0]?.extensions?.code, "BULKRUN_ERR_UNKNOWN_SCHEDULE");
    assert.equal((await f.ctx.db.knex("bulkrun.schedules").where({ id: schedule.rowId }).first()).enabled, false);
    assert.equal((await f.gql(f.b.token, "{ allSchedules { totalCount } }")).data.allSchedules.totalCount, 0);
    const deleted = await f.gql(f.a.token, `mutation { deleteScheduleByRowId(input: { rowId: "${schedule.rowId}" }) { schedule { rowId } } }`);
    assert.equal(deleted.errors, undefined);
    assert.equal((await f.gql(f.a.token, "{ allSchedules { totalCount } }")).data.allSchedules.totalCount, 0);
  });
});
