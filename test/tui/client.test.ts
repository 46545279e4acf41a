import assert from "node:assert/strict";
import { createServer } from "node:net";
import { after, before, describe, test } from "node:test";
import { recordCapacity } from "../../runner/engine/capacity.ts";
import { startHeartbeat, type Heartbeat } from "../../runner/engine/heartbeat.ts";
import { isBulkrunError } from "../../runner/errors.ts";
import { GraphqlClient } from "../../tui/client.ts";
import { control, fetchDetail, fetchOverview } from "../../tui/queries.ts";
import { apiFixture, type ApiFixture } from "../api/client.ts";
import { finished, submitCsv } from "../helpers/actions.ts";
import { until } from "../helpers/until.ts";

let f: ApiFixture;
let heartbeat: Heartbeat;
let admin: GraphqlClient;
let accountA: GraphqlClient;
let accountB: GraphqlClient;
let done: number;

const csv = (rows: number, bad: number) =>
  ["name,email", ...Array.from({ length: rows }, (_, i) => (i < bad ? `Bad ${i},bad-${i}` : `User ${i},user-${i}@example.com`))].join("\n");

before(async () => {
  f = await apiFixture();
  await f.ctx.startWorker();
  heartbeat = await startHeartbeat(f.ctx.db.knex, "tui-test-runner", ["worker", "api"]);
  await recordCapacity(f.ctx.db.knex, "tui-test-runner", 3);
  const target = (token: string) => ({ url: f.api.url, token });
  admin = new GraphqlClient(target(f.adminToken));
  accountA = new GraphqlClient(target(f.a.token));
  accountB = new GraphqlClient(target(f.b.token));
  done = (await finished(f.ctx, (await submitCsv(f.ctx, { accountId: f.a.id, chunkSize: 10 }, csv(60, 4))).id)).id;
});
after(async () => {
  for (const client of [admin, accountA, accountB]) await client?.close();
  await heartbeat?.stop();
  await f?.close();
});

describe("the dashboard's client, against the API", () => {
  test("the overview shows runners and worker slots (admin), the queue, rows per second of the last minute, accounts and actions", async () => {
    await f.ctx.db.knex("bulkrun.accounts").where({ id: f.a.id }).update({ rate_limit_per_minute: 5000 });
    const overview = await fetchOverview(admin);
    assert.deepEqual(overview.runners, { alive: 1, dead: 0, workersBusy: 0, workersTotal: 3 });
    assert.equal(overview.throughput.length, 60);
    assert.ok(overview.throughput.reduce((a, b) => a + b, 0) > 0, "the import's rows show in the last minute");
    const a = overview.accounts.find((x) => x.id === f.a.id)!;
    assert.equal(a.rateLimitPerMinute, 5000);
    const action = overview.actions.find((x) => x.id === done)!;
    assert.deepEqual(
      [action.account, action.status, action.total, action.created, action.failed, action.progress],
      [f.a.name, "completed", 60, 56, 4, 1],
    );
  });

  test("busy workers never exceed the slots: a slot still holds a finished job's lock while it takes the next", async () => {
    const { rows } = await f.ctx.db.knex.raw(
      "select (graphile_worker.add_job('bulkrun.none', run_at => now() + interval '1 hour')).id from generate_series(1, 4)",
    );
    const ids = rows.map((r: { id: string }) => r.id);
    try {
      await f.ctx.db.knex.raw("update graphile_worker._private_jobs set locked_by = 'tui-test-runner', locked_at = now() where id = any(?)", [ids]);
      assert.deepEqual((await fetchOverview(admin)).runners, { alive: 1, dead: 0, workersBusy: 3, workersTotal: 3 });
      await f.ctx.db.knex.raw("update graphile_worker._private_jobs set locked_by = null, locked_at = null where id = any(?)", [ids.slice(2)]);
      assert.deepEqual((await fetchOverview(admin)).runners, { alive: 1, dead: 0, workersBusy: 2, workersTotal: 3 });
    } finally {
      await f.ctx.db.knex.raw("delete from graphile_worker._private_jobs where id = any(?)", [ids]);
    }
  });

  test("an account token sees its own actions and throughput only, and no runners", async () => {
    const own = await fetchOverview(accountB);
    assert.equal(own.runners, null);
    assert.deepEqual(own.actions, []);
    assert.deepEqual(own.accounts.map((a) => a.name), [f.b.name]);
    assert.equal(own.throughput.reduce((a, b) => a + b, 0), 0);
    assert.equal(await fetchDetail(accountB, done, 20), null);
    assert.equal((await fetchOverview(accountA)).actions.length, 1);
  });

  test("the detail view has the chunk timeline, throughput over time and failure reasons with sample rows", async () => {
    const detail = (await fetchDetail(accountA, done, 3))!;
    assert.equal(detail.chunkCount, 6);
    assert.deepEqual(detail.chunks.map((s) => [s.chunks, s.done, s.failed]), [[2, 2, 0], [2, 2, 0], [2, 2, 0]]);
    assert.ok(detail.throughput.length >= 1 && detail.throughput.some((v) => v > 0));
    assert.deepEqual(detail.failures.map((r) => [r.outcome, r.reason, r.rows]), [["invalid", "email `…` is not an email address", 4]]);
    assert.deepEqual(detail.failures[0]!.samples, [
      { rowNumber: 1, error: "email `bad-0` is not an email address", data: { name: "Bad 0", email: "bad-0" } },
      { rowNumber: 2, error: "email `bad-1` is not an email address", data: { name: "Bad 1", email: "bad-1" } },
    ]);
  });

  test("filters by status and by account", async () => {
    const queued = (await submitCsv(f.ctx, { accountId: f.b.id, runAt: new Date(Date.now() + 3_600_000) }, csv(1, 0))).id;
    assert.deepEqual((await fetchOverview(admin, { status: "scheduled" })).actions.map((a) => a.id), [queued]);
    assert.deepEqual((await fetchOverview(admin, { accountId: f.a.id })).actions.map((a) => a.id), [done]);
  });

  test("pause, resume and cancel change the action in the database; a retry without failed rows says why", async () => {
    await f.ctx.db.knex("bulkrun.accounts").where({ id: f.b.id }).update({ rate_limit_per_minute: 10 });
    const slow = (await submitCsv(f.ctx, { accountId: f.b.id, chunkSize: 10 }, csv(200, 0))).id;
    const status = async () => (await f.ctx.db.knex("bulkrun.bulk_actions").where({ id: slow }).first()).status as string;
    await until("the slow action runs", async () => (await status()) === "running");
    assert.deepEqual(await control(accountB, "pause", slow), { id: slow, status: "paused" });
    assert.equal(await status(), "paused");
    assert.equal((await control(accountB, "resume", slow)).status, "running");
    assert.equal((await control(accountB, "cancel", slow)).status, "cancelled");
    assert.equal(await status(), "cancelled");
    await assert.rejects(control(accountB, "cancel", done), (error) => isBulkrunError(error) && /does not exist/.test(error.message));
    await assert.rejects(
      control(accountA, "retry", done),
      (error) => isBulkrunError(error, "BULKRUN_ERR_INVALID_TRANSITION") && /no failed rows to retry/.test(error.message),
    );
  });

  test("a refused token and an API that does not answer fail with their own codes", async () => {
    const refused = new GraphqlClient({ url: f.api.url, token: "bulkrun_not-a-token" });
    await assert.rejects(fetchOverview(refused), (error) => isBulkrunError(error, "BULKRUN_ERR_UNAUTHORIZED") && /refused the token/.test(error.message));
    await refused.close();
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, "127.0.0.1", () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const away = new GraphqlClient({ url: `http://127.0.0.1:${port}`, token: f.adminToken });
    await assert.rejects(fetchOverview(away), (error) => isBulkrunError(error, "BULKRUN_ERR_API_UNREACHABLE") && /ECONNREFUSED/.test(error.message));
    await away.close();
  });
});
