import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { markDuplicates } from "../../runner/engine/duplicates.ts";
import { SeenKeys } from "../../runner/engine/seen-keys.ts";
import { testRuntime, type TestRuntime } from "../helpers/runtime.ts";

let ctx: TestRuntime;
before(async () => (ctx = await testRuntime()));
after(() => ctx.close());

/** Stages `keys` as pending rows 1..n of a new action, settles duplicates, returns the skipped rows. */
async function skippedRows(keys: string[], suspects?: string[]): Promise<number[]> {
  const { rows } = await ctx.db.knex.raw("insert into bulkrun.accounts (name) values (gen_random_uuid()::text) returning id");
  const action = await ctx.db.knex.raw(
    "insert into bulkrun.bulk_actions (account_id, type, source, status) values (?, 'users.import', '{}', 'failed') returning id",
    [rows[0].id],
  );
  const id = action.rows[0].id;
  await ctx.db.knex.raw(
    "insert into bulkrun.bulk_action_items (action_id, row_number, key) select ?, n, k from unnest(?::text[]) with ordinality as t(k, n)",
    [id, keys],
  );
  const client = await ctx.db.pool.connect();
  try {
    await markDuplicates(client, id, suspects);
  } finally {
    client.release();
  }
  const skipped = await ctx.db.knex.raw(
    "select row_number from bulkrun.bulk_action_items where action_id = ? and outcome = 'duplicate_in_file' order by row_number",
    [id],
  );
  return skipped.rows.map((r: { row_number: number }) => r.row_number);
}

describe("duplicate keys", () => {
  test("every repeated key is a suspect, and a key seen once is not", () => {
    const seen = new SeenKeys();
    for (let i = 0; i < 50_000; i++) seen.add(`user${i}@example.com`);
    for (let i = 0; i < 50_000; i += 1000) seen.add(`user${i}@example.com`);
    const suspects = new Set(seen.suspects());
    for (let i = 0; i < 50_000; i += 1000) assert.ok(suspects.has(`user${i}@example.com`), `user${i} repeats`);
    assert.ok(suspects.size < 60, `few false alarms (${suspects.size - 50})`);
  });

  test("past 100 000 suspects it lists none: any key may repeat", () => {
    const seen = new SeenKeys();
    for (let round = 0; round < 2; round++) for (let i = 0; i < 100_001; i++) seen.add(`k${i}`);
    assert.equal(seen.suspects(), undefined);
  });

  test("the last row of a key wins, whether all keys or only the suspects are grouped", async () => {
    const keys = ["a", "b", "a", "c", "b", "a"];
    assert.deepEqual(await skippedRows(keys), [1, 2, 3]);
    assert.deepEqual(await skippedRows(keys, ["a", "b", "zzz"]), [1, 2, 3]);
    assert.deepEqual(await skippedRows(keys, ["a"]), [1, 3]);
    assert.deepEqual(await skippedRows(keys, []), []);
  });
});
