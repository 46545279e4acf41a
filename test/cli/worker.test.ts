import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { liveRunners } from "../../runner/engine/heartbeat.ts";
import { finished, newAccount, submitCsv, users } from "../helpers/actions.ts";
import { startCli } from "../helpers/cli.ts";
import { testRuntime, type TestRuntime } from "../helpers/runtime.ts";

let ctx: TestRuntime;

before(async () => {
  ctx = await testRuntime();
});
after(() => ctx.close());

test("bulkrun worker runs actions, announces itself, and stops cleanly on SIGTERM", async () => {
  const worker = startCli(["worker"], { databaseUrl: ctx.url });
  await worker.stderrMatches(/bulkrun worker running \(pid \d+, pool pool-/);
  assert.equal(await liveRunners(ctx.db.knex), 1);
  const account = await newAccount(ctx);
  const done = await finished(ctx, (await submitCsv(ctx, { accountId: account.id }, "email\na@example.com\nb@example.com\n")).id);
  assert.equal(done.status, "completed");
  assert.equal((await users(ctx, account.id)).length, 2);
  worker.child.kill("SIGTERM");
  const result = await worker.result;
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /SIGTERM: finishing running chunks, then stopping/);
  assert.equal(await liveRunners(ctx.db.knex), 0);
  const { rows } = await ctx.db.knex.raw("select count(*)::int as n from graphile_worker._private_jobs where locked_by is not null");
  assert.equal(rows[0].n, 0);
});
