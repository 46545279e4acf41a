import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { finished, newAccount, submitCsv, users } from "../helpers/actions.ts";
import { startCli, type RunningCli } from "../helpers/cli.ts";
import { testRuntime, type TestRuntime } from "../helpers/runtime.ts";

const LIMIT = 40;
const CHUNK = 10;
let ctx: TestRuntime;
let workers: RunningCli[] = [];

before(async () => {
  ctx = await testRuntime();
  workers = [1, 2, 3].map(() =>
    startCli(["worker"], { databaseUrl: ctx.url, timeoutMs: 60_000, env: { BULKRUN_RATE_LIMIT_WINDOW_MS: "1000", BULKRUN_CONCURRENCY: "2" } }),
  );
  await Promise.all(workers.map((w) => w.stderrMatches(/running \(pid/)));
});
after(async () => {
  for (const w of workers) w.child.kill("SIGTERM");
  await Promise.all(workers.map((w) => w.result));
  await ctx.close();
});

const csv = (n: number, prefix: string) => ["email", ...Array.from({ length: n }, (_, i) => `${prefix}${i}@example.com`)].join("\n");

test("three workers keep an account within its rate, counted in rows, while another account runs at full speed", async () => {
  const limited = await newAccount(ctx);
  const free = await newAccount(ctx);
  await ctx.db.knex.raw("update bulkrun.accounts set rate_limit_per_minute = ? where id = ?", [LIMIT, limited.id]);
  const slow = await submitCsv(ctx, { accountId: limited.id, chunkSize: CHUNK }, csv(200, "limited"));
  const fast = await submitCsv(ctx, { accountId: free.id, chunkSize: CHUNK }, csv(200, "free"));
  const fastDone = await finished(ctx, fast.id);
  const slowDone = await finished(ctx, slow.id, 60_000);
  assert.equal(slowDone.created, 200);
  assert.equal(fastDone.created, 200);
  assert.ok(fastDone.finished_at! < slowDone.finished_at!, "the unlimited account waited for the limited one");
  assert.equal((await users(ctx, limited.id)).length, 200);
  const { rows: chunks } = await ctx.db.knex.raw<{ rows: { at: number; rows: number; worker: string }[] }>(
    "select extract(epoch from started_at)::float8 as at, rows, worker from bulkrun.bulk_action_chunks where action_id = ? order by started_at",
    [slow.id],
  );
  assert.equal(new Set(chunks.map((c) => c.worker)).size, 3, "every worker process took part");
  for (const first of chunks) {
    const inWindow = chunks.filter((c) => c.at >= first.at && c.at < first.at + 1).reduce((sum, c) => sum + c.rows, 0);
    assert.ok(inWindow <= LIMIT + CHUNK, `${inWindow} rows applied in the second from ${first.at}`);
  }
  const seconds = chunks.at(-1)!.at - chunks[0]!.at;
  assert.ok(seconds >= (200 - LIMIT - CHUNK) / LIMIT, `200 rows at ${LIMIT}/s took only ${seconds.toFixed(2)} s`);
});
