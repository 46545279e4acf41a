import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { finished, newAccount, submitCsv } from "../helpers/actions.ts";
import { testRuntime, type TestRuntime } from "../helpers/runtime.ts";

// Graphile Worker polls for jobs that were enqueued to run later only every `pollInterval`: here
// a minute, so a chunk that waited for tokens until the next poll would hold its action up that
// long.
let ctx: TestRuntime;
before(async () => {
  ctx = await testRuntime({ worker: { pollInterval: 60_000, concurrency: 2 } });
  await ctx.startWorker();
});
after(() => ctx.close());

test("a chunk that waits for rate-limit tokens runs when they are there, not at the worker's next poll", async () => {
  const account = await newAccount(ctx);
  // 1 200 rows a minute: 20 a second; each 10-row chunk after the first waits about half a second.
  await ctx.db.knex("bulkrun.accounts").where({ id: account.id }).update({ rate_limit_per_minute: 1200 });
  const csv = ["email", ...Array.from({ length: 40 }, (_, i) => `wake-${i}@example.com`)].join("\n");
  const action = await submitCsv(ctx, { accountId: account.id, chunkSize: 10 }, csv);
  const done = await finished(ctx, action.id, 20_000);
  assert.deepEqual([done.status, done.created], ["completed", 40]);
  const { rows: [span] } = await ctx.db.knex.raw<{ rows: { seconds: number }[] }>(
    "select extract(epoch from max(finished_at) - min(started_at))::float8 as seconds from bulkrun.bulk_action_chunks where action_id = ?",
    [action.id],
  );
  assert.ok(span!.seconds >= 1.2, `4 chunks of 10 rows at 20 rows a second took only ${span!.seconds.toFixed(2)} s`);
});
