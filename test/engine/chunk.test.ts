import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { defineAction } from "../../runner/plugin.ts";
import usersImport from "../../plugins/users-import/index.ts";
import { STAGED_CTE } from "../../runner/engine/chunk-query.ts";
import { finished, ledger, newAccount, submitCsv, users } from "../helpers/actions.ts";
import { testRuntime, type TestRuntime } from "../helpers/runtime.ts";
import { EMAIL_ROWS } from "../helpers/slow-plugin.ts";
import { until } from "../helpers/until.ts";

/** Writes its rows as users, then fails: proves a chunk's writes roll back with it. */
const explode = defineAction({
  name: "test.explode",
  description: "writes, then throws",
  options: {},
  outcomes: { created: "created" },
  csv: EMAIL_ROWS,
  async processChunk({ db, staged, accountId }) {
    await db.raw(`insert into bulkrun.users (account_id, email) select ?, data->>'email' from ${staged}`, [accountId]);
    throw new Error("the disk is on fire");
  },
});

/** A query plugin whose `outcomes` CTE is given by the test: each way a query can misreport. */
function reporting(name: string, outcomes: string) {
  return defineAction({
    name,
    description: "reports outcomes from its query",
    options: {},
    outcomes: { created: "created" },
    csv: EMAIL_ROWS,
    chunkQuery: ({ staged, accountId }) => ({
      sql: `written as (insert into bulkrun.users (account_id, email) select ?, data->>'email' from ${staged} returning id, email),
            outcomes as (${outcomes})`,
      bindings: [accountId],
    }),
  });
}

const undeclared = reporting("test.undeclared", `select s.row_number, 'exploded' as outcome, null::text as error, null::bigint as entity_id from ${STAGED_CTE} s`);
const twice = reporting(
  "test.twice",
  `select s.row_number, 'created' as outcome, null::text as error, null::bigint as entity_id from ${STAGED_CTE} s
   union all select min(row_number), 'created', null, null from ${STAGED_CTE}`,
);
const missing = reporting(
  "test.missing",
  `select s.row_number, 'created' as outcome, null::text as error, w.id as entity_id
     from ${STAGED_CTE} s join written w on w.email = s.data->>'email' where s.row_number > 1`,
);

let ctx: TestRuntime;

before(async () => {
  ctx = await testRuntime({ plugins: [usersImport, explode, undeclared, twice, missing], worker: { chunkAttempts: 2 } });
  await ctx.startWorker();
});
after(() => ctx.close());

async function jobsLeft(): Promise<number> {
  const { rows } = await ctx.db.knex.raw("select count(*)::int as n from graphile_worker.jobs");
  return rows[0].n;
}


describe("chunks", () => {
  test("running a committed chunk's job again changes nothing", async () => {
    const account = await newAccount(ctx);
    const lines = ["name,email", ...Array.from({ length: 900 }, (_, i) => `U${i},u${i}@example.com`)];
    const done = await finished(ctx, (await submitCsv(ctx, { accountId: account.id, chunkSize: 100 }, lines.join("\n"))).id);
    const usersBefore = await users(ctx, account.id);
    const ledgerBefore = await ledger(ctx, done.id);
    const { rows: chunks } = await ctx.db.knex.raw("select id, attempts, finished_at from bulkrun.bulk_action_chunks where action_id = ? order by id", [done.id]);
    assert.ok(chunks.length > 3);
    await ctx.db.knex.raw(
      "select graphile_worker.add_job('bulkrun.chunk', json_build_object('chunkId', id)) from bulkrun.bulk_action_chunks where action_id = ?",
      [done.id],
    );
    await until("no jobs left", async () => (await jobsLeft()) === 0);
    const again = (await ctx.db.knex.raw("select * from bulkrun.bulk_actions where id = ?", [done.id])).rows[0];
    assert.deepEqual(
      [again.status, again.processed, again.created, again.updated, again.skipped, again.failed],
      ["completed", 900, 900, 0, 0, 0],
    );
    assert.deepEqual(await users(ctx, account.id), usersBefore);
    assert.deepEqual(await ledger(ctx, done.id), ledgerBefore);
    const { rows: chunksAfter } = await ctx.db.knex.raw("select id, attempts, finished_at from bulkrun.bulk_action_chunks where action_id = ? order by id", [done.id]);
    assert.deepEqual(chunksAfter, chunks);
  });

  test("a chunk that fails on every attempt rolls back its writes and marks its rows chunk_failed", async () => {
    const account = await newAccount(ctx);
    const done = await finished(ctx, (await submitCsv(ctx, { accountId: account.id, type: "test.explode" }, "email\na@example.com\nb@example.com\n")).id);
    assert.equal(done.status, "failed");
    assert.equal(done.error_code, "BULKRUN_ERR_CHUNK_FAILED");
    assert.deepEqual([done.processed, done.failed, done.created], [2, 2, 0]);
    const entries = await ledger(ctx, done.id);
    assert.deepEqual(entries.map((e) => [e.status, e.outcome]), [["failed", "chunk_failed"], ["failed", "chunk_failed"]]);
    assert.match(entries[0]!.error!, /failed on every attempt: the disk is on fire/);
    assert.equal((await users(ctx, account.id)).length, 0);
    const { rows } = await ctx.db.knex.raw("select status, attempts from bulkrun.bulk_action_chunks where action_id = ?", [done.id]);
    assert.deepEqual(rows, [{ status: "failed", attempts: 2 }]);
  });

  for (const [type, reason] of [
    ["test.undeclared", /reported outcome\(s\) `exploded`, which it does not declare/],
    ["test.twice", /reported 3 outcomes for 2 rows, 2 of them for distinct staged rows/],
    ["test.missing", /reported 1 outcomes for 2 rows, 1 of them for distinct staged rows/],
  ] as const) {
    test(`a query plugin that misreports its rows crashes its chunk and writes nothing (${type})`, async () => {
      const account = await newAccount(ctx);
      const done = await finished(ctx, (await submitCsv(ctx, { accountId: account.id, type }, "email\na@example.com\nb@example.com\n")).id);
      assert.equal(done.status, "failed");
      assert.deepEqual([done.processed, done.failed, done.created], [2, 2, 0]);
      const entries = await ledger(ctx, done.id);
      assert.deepEqual(entries.map((e) => e.outcome), ["chunk_failed", "chunk_failed"]);
      assert.match(entries[0]!.error!, reason);
      assert.equal((await users(ctx, account.id)).length, 0);
    });
  }
});
