import assert from "node:assert/strict";
import { createReadStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { writeSeedCsv } from "../../runner/engine/seed.ts";
import { findAction } from "../../runner/engine/actions.ts";
import { submitFile } from "../../runner/engine/submit.ts";
import { finished, newAccount } from "../helpers/actions.ts";
import { testRuntime, type TestRuntime } from "../helpers/runtime.ts";
import { until } from "../helpers/until.ts";

const ACCOUNTS = 20;
const ACTIONS_PER_ACCOUNT = 10;
const ROWS_PER_ACTION = 20;
const BIG = 1_000_000;

let ctx: TestRuntime;
let dir: string;

before(async () => {
  ctx = await testRuntime({ chunkSize: 5000 });
  dir = await mkdtemp(join(tmpdir(), "bulkrun-load-"));
});
after(async () => {
  await ctx.close();
  await rm(dir, { recursive: true, force: true });
});

test("200 small actions from 20 accounts and a 1M-row import all complete, none starved, counters exact", { timeout: 600_000 }, async () => {
  const started = performance.now();
  const file = join(dir, "big.csv");
  const seeded = await writeSeedCsv(file, { rows: BIG, duplicates: 2, invalid: 1 });
  const bigAccount = await newAccount(ctx, "load-big");
  const big = await submitFile(ctx, { accountId: bigAccount.id, type: "users.import" }, createReadStream(file), "big.csv");
  await ctx.startWorker();
  await new Promise((r) => setTimeout(r, 2000));
  const accounts = await Promise.all(Array.from({ length: ACCOUNTS }, (_, a) => newAccount(ctx, `load-${a}`)));
  const small: number[] = [];
  for (const account of accounts) {
    for (let n = 0; n < ACTIONS_PER_ACCOUNT; n++) {
      const rows = Array.from({ length: ROWS_PER_ACTION }, (_, r) => ({ email: `a${account.id}-${n}-${r}@example.com`, name: `N${r}` }));
      const { rows: inserted } = await ctx.db.knex.raw<{ rows: { id: number }[] }>(
        "insert into bulkrun.bulk_actions (account_id, type, source) values (?, 'users.import', ?) returning id",
        [account.id, JSON.stringify({ rows })],
      );
      small.push(inserted[0]!.id);
    }
  }
  await until("every small action completed", async () => {
    const { rows } = await ctx.db.knex.raw("select count(*)::int as n from bulkrun.bulk_actions where id = any(?) and status = 'completed'", [small]);
    return rows[0].n === small.length;
  }, 300_000);
  const smallFinished = performance.now();
  const smallDone = await Promise.all(small.map((id) => findAction(ctx.db.knex, id).then((a) => a!)));
  const bigDone = await finished(ctx, big.id, 600_000);
  const total = (performance.now() - started) / 1000;
  console.log(
    `load: ${small.length} small actions done in ${((smallFinished - started) / 1000).toFixed(1)} s; ` +
      `1M-row import done in ${total.toFixed(1)} s (${Math.round(BIG / ((bigDone.finished_at!.getTime() - bigDone.created_at.getTime()) / 1000))} rows/s)`,
  );
  for (const action of smallDone) {
    assert.deepEqual([action.status, action.created, action.processed], ["completed", ROWS_PER_ACTION, ROWS_PER_ACTION]);
  }
  assert.ok(Math.max(...smallDone.map((a) => a.finished_at!.getTime())) < bigDone.finished_at!.getTime(), "the small actions waited for the big import");
  assert.deepEqual(
    [bigDone.status, bigDone.total, bigDone.created, bigDone.skipped, bigDone.failed],
    ["completed", BIG, BIG - seeded.duplicates - seeded.invalid, seeded.duplicates, seeded.invalid],
  );
  const { rows: perAccount } = await ctx.db.knex.raw(
    "select account_id, count(*)::int as n from bulkrun.users group by account_id order by account_id",
  );
  assert.deepEqual(
    perAccount.map((r: { n: number }) => r.n),
    [BIG - seeded.duplicates - seeded.invalid, ...accounts.map(() => ACTIONS_PER_ACCOUNT * ROWS_PER_ACTION)],
  );
  const { rows: ledger } = await ctx.db.knex.raw(
    "select count(*)::int as n, count(*) filter (where status = 'pending')::int as pending from bulkrun.bulk_action_items",
  );
  assert.deepEqual(ledger[0], { n: BIG + small.length * ROWS_PER_ACTION, pending: 0 });
});
