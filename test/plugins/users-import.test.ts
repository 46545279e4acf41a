import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { isBulkrunError } from "../../runner/errors.ts";
import { finished, ledger, newAccount, runAgainstOpenTransaction, submitCsv, users } from "../helpers/actions.ts";
import { testRuntime, type TestRuntime } from "../helpers/runtime.ts";

let ctx: TestRuntime;

before(async () => {
  ctx = await testRuntime();
  await ctx.startWorker();
});
after(() => ctx.close());

describe("users.import from a staged CSV", () => {
  test("creates users and records one ledger entry per row with exact counters", async () => {
    const account = await newAccount(ctx);
    const action = await submitCsv(ctx, { accountId: account.id }, "name,email,phone\nAda,ada@example.com,+44 20 7946 0018\nBo,bo@example.com,\n");
    const done = await finished(ctx, action.id);
    assert.equal(done.status, "completed");
    assert.deepEqual([done.total, done.processed, done.created, done.updated, done.skipped, done.failed], [2, 2, 2, 0, 0, 0]);
    const rows = await users(ctx, account.id);
    assert.deepEqual(rows.map((u) => [u.email, u.name, u.phone]), [
      ["ada@example.com", "Ada", "+442079460018"],
      ["bo@example.com", "Bo", null],
    ]);
    const entries = await ledger(ctx, action.id);
    assert.deepEqual(entries.map((e) => [e.row_number, e.status, e.outcome]), [[1, "succeeded", "created"], [2, "succeeded", "created"]]);
    assert.deepEqual(entries.map((e) => e.entity_id), [rows[0]!.id, rows[1]!.id]);
  });

  test("matches the header case-insensitively and reports unknown columns once", async () => {
    const account = await newAccount(ctx);
    const action = await submitCsv(ctx, { accountId: account.id }, "EMAIL,Name,Company,Age\ncy@example.com,Cy,Acme,40\n");
    assert.deepEqual(action.warnings, ["ignored unknown columns: Company, Age"]);
    const done = await finished(ctx, action.id);
    assert.equal(done.created, 1);
    assert.deepEqual((await users(ctx, account.id)).map((u) => u.name), ["Cy"]);
  });

  test("a bad row fails with its row number and reason while good rows go on", async () => {
    const account = await newAccount(ctx);
    const csv = [
      "name,email,phone",
      "Good One,good1@example.com,0123456789",
      "No Email,,0123456789",
      "Bad Email,not-an-email,0123456789",
      "Bad Phone,phone@example.com,call me",
      `Long Name,long@example.com,${"1".repeat(20)}`,
      `${"x".repeat(201)},longname@example.com,`,
      "Good Two,good2@example.com,(012) 345-6789",
    ].join("\n");
    const done = await finished(ctx, (await submitCsv(ctx, { accountId: account.id }, csv)).id);
    assert.equal(done.status, "completed");
    assert.deepEqual([done.total, done.created, done.failed, done.processed], [7, 2, 5, 7]);
    const entries = await ledger(ctx, done.id);
    assert.deepEqual(
      entries.filter((e) => e.status === "failed").map((e) => [e.row_number, e.outcome, e.error]),
      [
        [2, "invalid", "email is empty"],
        [3, "invalid", "email `not-an-email` is not an email address"],
        [4, "invalid", "phone `call me` is not a phone number: use 7 to 15 digits, optionally with a leading +"],
        [5, "invalid", `phone \`${"1".repeat(20)}\` is not a phone number: use 7 to 15 digits, optionally with a leading +`],
        [6, "invalid", "name is 201 characters long; at most 200 are allowed"],
      ],
    );
    assert.deepEqual((await users(ctx, account.id)).map((u) => [u.email, u.phone]), [
      ["good1@example.com", "0123456789"],
      ["good2@example.com", "0123456789"],
    ]);
  });

  test("de-duplicates within the file by lower(email): the last row wins", async () => {
    const account = await newAccount(ctx);
    const csv = "name,email\nFirst,dup@example.com\nOther,other@example.com\nSecond,DUP@Example.com\nThird,Dup@example.com\n";
    const done = await finished(ctx, (await submitCsv(ctx, { accountId: account.id }, csv)).id);
    assert.deepEqual([done.created, done.skipped], [2, 2]);
    const entries = await ledger(ctx, done.id);
    assert.deepEqual(entries.map((e) => [e.row_number, e.outcome]), [[1, "duplicate_in_file"], [2, "created"], [3, "duplicate_in_file"], [4, "created"]]);
    assert.equal(entries[0]!.error, "row 4 has the same key (dup@example.com); the last row wins");
    assert.deepEqual((await users(ctx, account.id)).map((u) => [u.email, u.name]), [
      ["Dup@example.com", "Third"],
      ["other@example.com", "Other"],
    ]);
  });

  test("on_conflict update changes existing users; unchanged rows are skipped without a write", async () => {
    const account = await newAccount(ctx);
    await finished(ctx, (await submitCsv(ctx, { accountId: account.id }, "name,email,phone\nOld,a@example.com,1111111\nSame,b@example.com,2222222\n")).id);
    const before = await users(ctx, account.id);
    const done = await finished(ctx, (await submitCsv(ctx, { accountId: account.id }, "name,email,phone\nNew,A@EXAMPLE.COM,\nSame,b@example.com,2222222\nC,c@example.com,\n")).id);
    assert.deepEqual([done.created, done.updated, done.skipped], [1, 1, 1]);
    assert.deepEqual((await ledger(ctx, done.id)).map((e) => e.outcome), ["updated", "unchanged", "created"]);
    const after = await users(ctx, account.id);
    assert.deepEqual(after.map((u) => [u.email, u.name, u.phone]), [
      ["a@example.com", "New", "1111111"],
      ["b@example.com", "Same", "2222222"],
      ["c@example.com", "C", null],
    ]);
    assert.equal(after[0]!.id, before[0]!.id);
    assert.deepEqual(after[1]!.updated_at, before[1]!.updated_at);
  });

  test("on_conflict skip leaves existing users alone and reports already_exists", async () => {
    const account = await newAccount(ctx);
    await finished(ctx, (await submitCsv(ctx, { accountId: account.id }, "name,email\nOld,a@example.com\n")).id);
    const done = await finished(ctx, (await submitCsv(ctx, { accountId: account.id, options: { on_conflict: "skip" } }, "name,email\nNew,a@example.com\nB,b@example.com\n")).id);
    assert.deepEqual([done.created, done.updated, done.skipped], [1, 0, 1]);
    assert.deepEqual((await ledger(ctx, done.id)).map((e) => e.outcome), ["already_exists", "created"]);
    assert.deepEqual((await users(ctx, account.id)).map((u) => u.name), ["Old", "B"]);
  });

  test("a user another transaction inserts while the chunk runs is updated in the same attempt, not a failed chunk", async () => {
    const account = await newAccount(ctx);
    // The chunk's insert of race@ waits on the uncommitted row in the unique index, then fails on it.
    const done = await runAgainstOpenTransaction(ctx, { accountId: account.id }, "name,email\nOurs,Race@example.com\nNew,new@example.com\n", (other) =>
      other.query("insert into bulkrun.users (account_id, email, name) values ($1, 'race@example.com', 'Theirs')", [account.id]),
    );
    assert.deepEqual([done.status, done.created, done.updated, done.failed], ["completed", 1, 1, 0]);
    assert.deepEqual((await ledger(ctx, done.id)).map((e) => e.outcome), ["updated", "created"]);
    assert.deepEqual((await users(ctx, account.id)).map((u) => [u.email, u.name]), [["new@example.com", "New"], ["race@example.com", "Ours"]]);
    const { rows: chunks } = await ctx.db.knex.raw("select attempts from bulkrun.bulk_action_chunks where action_id = ?", [done.id]);
    assert.deepEqual(chunks, [{ attempts: 1 }]);
  });

  test("a file without an email column fails the action before any row is applied", async () => {
    const account = await newAccount(ctx);
    await assert.rejects(submitCsv(ctx, { accountId: account.id }, "name,phone\nAda,0123456789\n"), (error) => {
      assert.ok(isBulkrunError(error, "BULKRUN_ERR_CSV_HEADER"));
      assert.match(error.message, /the CSV header has no `email` column \(found: name, phone\)/);
      return true;
    });
    const { rows } = await ctx.db.knex.raw("select status, error_code, (select count(*)::int from bulkrun.bulk_action_items i where i.action_id = a.id) as items from bulkrun.bulk_actions a where account_id = ?", [account.id]);
    assert.deepEqual(rows, [{ status: "failed", error_code: "BULKRUN_ERR_CSV_HEADER", items: 0 }]);
    assert.equal((await users(ctx, account.id)).length, 0);
  });

  test("rejects an unknown option with a did-you-mean before anything is stored", async () => {
    const account = await newAccount(ctx);
    await assert.rejects(submitCsv(ctx, { accountId: account.id, options: { on_conflit: "skip" } }, "email\na@example.com\n"), {
      code: "BULKRUN_ERR_OPTIONS",
      message: "users.import: unknown option `on_conflit`, did you mean `on_conflict`?",
    });
    const { rows } = await ctx.db.knex.raw("select count(*)::int as n from bulkrun.bulk_actions where account_id = ?", [account.id]);
    assert.equal(rows[0].n, 0);
  });

  test("many chunks: every row of a larger file is applied once and the counters equal the ledger", async () => {
    const account = await newAccount(ctx);
    const lines = ["name,email"];
    for (let i = 1; i <= 5000; i++) lines.push(`User ${i},user${i % 4000}@example.com`);
    const done = await finished(ctx, (await submitCsv(ctx, { accountId: account.id, chunkSize: 300 }, lines.join("\n"))).id);
    assert.equal(done.status, "completed");
    assert.deepEqual([done.total, done.processed, done.created, done.skipped, done.failed], [5000, 5000, 4000, 1000, 0]);
    const { rows: chunks } = await ctx.db.knex.raw("select count(*)::int as n, sum(rows)::int as rows from bulkrun.bulk_action_chunks where action_id = ? and status = 'done'", [done.id]);
    // The 1 000 earlier duplicates are settled when the action is prepared; 4 000 rows remain.
    assert.deepEqual(chunks[0], { n: Math.ceil(4000 / 300), rows: 4000 });
    const { rows: tally } = await ctx.db.knex.raw(
      "select outcome, count(*)::int as n from bulkrun.bulk_action_items where action_id = ? group by outcome order by outcome",
      [done.id],
    );
    assert.deepEqual(tally, [{ outcome: "created", n: 4000 }, { outcome: "duplicate_in_file", n: 1000 }]);
    const names = new Map((await users(ctx, account.id)).map((u) => [u.email, u.name]));
    assert.equal(names.size, 4000);
    assert.equal(names.get("user1@example.com"), "User 4001");
    assert.equal(names.get("user0@example.com"), "User 4000");
  });
});
