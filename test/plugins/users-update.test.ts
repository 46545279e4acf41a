import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { controlAction } from "../../runner/engine/control.ts";
import { submitAction } from "../../runner/engine/submit.ts";
import { finished, ledger, newAccount, runAgainstOpenTransaction, submitCsv, users } from "../helpers/actions.ts";
import { testRuntime, type TestRuntime } from "../helpers/runtime.ts";

let ctx: TestRuntime;

before(async () => {
  ctx = await testRuntime();
  await ctx.startWorker();
});
after(() => ctx.close());

async function seedUsers(accountId: number, csv: string) {
  return finished(ctx, (await submitCsv(ctx, { accountId }, csv)).id);
}

describe("users.update", () => {
  test("a CSV keyed by email sets the given fields of existing users only", async () => {
    const account = await newAccount(ctx);
    await seedUsers(account.id, "name,email,phone\nAda,ada@example.com,1111111\nBo,bo@example.com,2222222\n");
    const before = await users(ctx, account.id);
    const csv = "email,status,phone\nADA@example.com,inactive,\nbo@example.com,active,2222222\nnobody@example.com,inactive,\n";
    const done = await finished(ctx, (await submitCsv(ctx, { accountId: account.id, type: "users.update" }, csv)).id);
    assert.deepEqual([done.status, done.updated, done.skipped, done.failed], ["completed", 1, 2, 0]);
    assert.deepEqual((await ledger(ctx, done.id)).map((e) => [e.row_number, e.outcome]), [[1, "updated"], [2, "unchanged"], [3, "not_found"]]);
    const after = await users(ctx, account.id);
    assert.equal(after.length, 2);
    const { rows } = await ctx.db.knex.raw("select email, status, phone from bulkrun.users where account_id = ? order by email", [account.id]);
    assert.deepEqual(rows, [
      { email: "ada@example.com", status: "inactive", phone: "1111111" },
      { email: "bo@example.com", status: "active", phone: "2222222" },
    ]);
    assert.deepEqual(after[1]!.updated_at, before[1]!.updated_at);
  });

  test("keyed by id, an email change onto another user's address fails that row alone", async () => {
    const account = await newAccount(ctx);
    await seedUsers(account.id, "email\na@example.com\nb@example.com\n");
    const [a, b] = await users(ctx, account.id);
    const csv = `id,email,name\n${a!.id},B@example.com,\n${b!.id},new-b@example.com,Bee\n999999999,x@example.com,\n`;
    const done = await finished(ctx, (await submitCsv(ctx, { accountId: account.id, type: "users.update", options: { key: "id" } }, csv)).id);
    assert.deepEqual((await ledger(ctx, done.id)).map((e) => [e.outcome, e.error]), [
      ["email_taken", "another user of the account has this email"],
      ["updated", null],
      ["not_found", "no such user in this account"],
    ]);
    assert.deepEqual((await users(ctx, account.id)).map((u) => [u.email, u.name]), [["a@example.com", null], ["new-b@example.com", "Bee"]]);
  });

  test("keyed by id, two rows of a file that want the same new email both fail; the other rows go on", async () => {
    const account = await newAccount(ctx);
    await seedUsers(account.id, "email\na@example.com\nb@example.com\nc@example.com\n");
    const [a, b, c] = await users(ctx, account.id);
    const csv = `id,email\n${a!.id},same@example.com\n${b!.id},new-b@example.com\n${c!.id},SAME@example.com\n`;
    const done = await finished(ctx, (await submitCsv(ctx, { accountId: account.id, type: "users.update", options: { key: "id" } }, csv)).id);
    assert.deepEqual((await ledger(ctx, done.id)).map((e) => e.outcome), ["email_taken", "updated", "email_taken"]);
    assert.deepEqual((await users(ctx, account.id)).map((u) => u.email), ["a@example.com", "c@example.com", "new-b@example.com"]);
  });

  test("a field the row leaves alone keeps what another transaction wrote while the chunk waited for the user", async () => {
    const account = await newAccount(ctx);
    await seedUsers(account.id, "name,email,phone\nAda,ada@example.com,1111111\n");
    const done = await runAgainstOpenTransaction(ctx, { accountId: account.id, type: "users.update" }, "email,phone\nada@example.com,2222222\n", (other) =>
      other.query("update bulkrun.users set name = 'Ada Lovelace' where account_id = $1", [account.id]),
    );
    assert.deepEqual([done.status, done.updated], ["completed", 1]);
    assert.deepEqual((await users(ctx, account.id)).map((u) => [u.name, u.phone]), [["Ada Lovelace", "2222222"]]);
  });

  test("a user whose email another transaction changes while the row waits is not written; the row fails, to be retried", async () => {
    const account = await newAccount(ctx);
    await seedUsers(account.id, "name,email\nAda,ada@example.com\n");
    const done = await runAgainstOpenTransaction(ctx, { accountId: account.id, type: "users.update" }, "email,name\nada@example.com,Someone Else\n", (other) =>
      other.query("update bulkrun.users set email = 'ada.l@example.com' where account_id = $1", [account.id]),
    );
    assert.deepEqual([done.status, done.updated, done.failed], ["completed", 0, 1]);
    const [entry] = await ledger(ctx, done.id);
    assert.deepEqual([entry!.status, entry!.outcome], ["failed", "changed_meanwhile"]);
    assert.match(entry!.error!, /another writer changed or deleted the user while this row waited/);
    assert.deepEqual((await users(ctx, account.id)).map((u) => [u.email, u.name]), [["ada.l@example.com", "Ada"]]);
  });

  test("a column the plugin may not write fails the action before anything is applied, listing the allowed ones", async () => {
    const account = await newAccount(ctx);
    await seedUsers(account.id, "email\na@example.com\n");
    await assert.rejects(submitCsv(ctx, { accountId: account.id, type: "users.update" }, "email,created_at\na@example.com,2020-01-01\n"), {
      code: "BULKRUN_ERR_CSV_HEADER",
      message: "users.update cannot write the column(s) created_at; the allowed columns are email, name, phone, status",
    });
  });

  test("a filter plus values updates the users matching at prepare time, and a dry run writes nothing", async () => {
    const account = await newAccount(ctx);
    await seedUsers(account.id, "email\na@old.example\nb@old.example\nc@new.example\n");
    const request = { accountId: account.id, type: "users.update", options: { set: { status: "inactive" } } };
    const where = { email: { endsWith: "@old.example" }, status: { eq: "active" } };
    const dry = await finished(ctx, (await submitAction(ctx, { ...request, dryRun: true }, { kind: "filter", where })).id);
    assert.deepEqual([dry.total, dry.updated], [2, 2]);
    const { rows: untouched } = await ctx.db.knex.raw("select count(*)::int as n from bulkrun.users where account_id = ? and status = 'inactive'", [account.id]);
    assert.equal(untouched[0].n, 0);
    const done = await finished(ctx, (await submitAction(ctx, request, { kind: "filter", where })).id);
    assert.deepEqual([done.total, done.updated], [2, 2]);
    const { rows } = await ctx.db.knex.raw("select email from bulkrun.users where account_id = ? and status = 'inactive' order by email", [account.id]);
    assert.deepEqual(rows.map((r: { email: string }) => r.email), ["a@old.example", "b@old.example"]);
  });

  test("bad values to set are refused up front with the reason", async () => {
    const account = await newAccount(ctx);
    await assert.rejects(submitAction(ctx, { accountId: account.id, type: "users.update", options: { set: { phon: "1" } } }, { kind: "filter", where: { id: { gt: 0 } } }), {
      message: "users.update: option `set` cannot set `phon`, did you mean `phone`? (allowed: `name`, `phone`, `status`)",
    });
    await assert.rejects(submitAction(ctx, { accountId: account.id, type: "users.update", options: { set: { phone: "call me" } } }, { kind: "filter", where: { id: { gt: 0 } } }), {
      message: "users.update: option `set.phone`: phone `call me` is not a phone number: use 7 to 15 digits, optionally with a leading +",
    });
  });
});

describe("users.delete", () => {
  test("deletes the users a CSV of emails names; unknown ones are skipped as not_found", async () => {
    const account = await newAccount(ctx);
    await seedUsers(account.id, "email\na@example.com\nb@example.com\nc@example.com\n");
    const done = await finished(ctx, (await submitCsv(ctx, { accountId: account.id, type: "users.delete" }, "email\nA@example.com\nzzz@example.com\nc@example.com\n")).id);
    assert.deepEqual([done.deleted, done.skipped], [2, 1]);
    assert.deepEqual((await ledger(ctx, done.id)).map((e) => e.outcome), ["deleted", "not_found", "deleted"]);
    assert.deepEqual((await users(ctx, account.id)).map((u) => u.email), ["b@example.com"]);
  });

  test("a user whose email another transaction changes while the row waits is not deleted", async () => {
    const account = await newAccount(ctx);
    await seedUsers(account.id, "name,email\nAda,ada@example.com\n");
    const done = await runAgainstOpenTransaction(ctx, { accountId: account.id, type: "users.delete" }, "email\nada@example.com\n", (other) =>
      other.query("update bulkrun.users set email = 'ada.l@example.com' where account_id = $1", [account.id]),
    );
    assert.deepEqual((await ledger(ctx, done.id)).map((e) => e.outcome), ["not_found"]);
    assert.deepEqual((await users(ctx, account.id)).map((u) => u.email), ["ada.l@example.com"]);
  });

  test("a filter deletes only what matched when the action was prepared, never another account's users", async () => {
    const account = await newAccount(ctx);
    const other = await newAccount(ctx);
    await seedUsers(account.id, "email\na@old.example\nb@new.example\n");
    await seedUsers(other.id, "email\nz@old.example\n");
    const done = await finished(ctx, (await submitAction(ctx, { accountId: account.id, type: "users.delete" }, { kind: "filter", where: { email: { endsWith: "@old.example" } } })).id);
    assert.deepEqual([done.total, done.deleted], [1, 1]);
    assert.deepEqual((await users(ctx, account.id)).map((u) => u.email), ["b@new.example"]);
    assert.deepEqual((await users(ctx, other.id)).map((u) => u.email), ["z@old.example"]);
  });

  test("applying a dry run touches only the users its filter matched then, not ones created since", async () => {
    const account = await newAccount(ctx);
    await seedUsers(account.id, "email\na@old.example\n");
    const where = { email: { endsWith: "@old.example" } };
    const dry = await finished(ctx, (await submitAction(ctx, { accountId: account.id, type: "users.delete", dryRun: true }, { kind: "filter", where })).id);
    assert.deepEqual([dry.total, dry.deleted], [1, 1]);
    await seedUsers(account.id, "email\nlater@old.example\n");
    const applied = await finished(ctx, (await controlAction(ctx.db.knex, "apply", dry.id)).id);
    assert.deepEqual([applied.total, applied.deleted], [1, 1]);
    assert.deepEqual((await users(ctx, account.id)).map((u) => u.email), ["later@old.example"]);
  });

  test("an invalid filter fails the action with the filter's message", async () => {
    const account = await newAccount(ctx);
    const done = await finished(ctx, (await submitAction(ctx, { accountId: account.id, type: "users.delete" }, { kind: "filter", where: { emial: { eq: "x" } } })).id);
    assert.equal(done.error_code, "BULKRUN_ERR_FILTER");
    assert.match(done.error!, /unknown field `emial`, did you mean `email`\?/);
  });
});

describe("users.anonymize (a plugin written against the public contract only)", () => {
  test("scrubs name and phone, replaces the email with a stable pseudonym, and is idempotent", async () => {
    const account = await newAccount(ctx);
    await seedUsers(account.id, "name,email,phone\nAda,ada@example.com,1111111\nBo,bo@example.com,2222222\n");
    const first = await finished(ctx, (await submitCsv(ctx, { accountId: account.id, type: "users.anonymize" }, "email\nAda@Example.com\nnobody@example.com\n")).id);
    assert.deepEqual([first.updated, first.skipped], [1, 1]);
    const { rows } = await ctx.db.knex.raw("select email, name, phone from bulkrun.users where account_id = ? order by id", [account.id]);
    assert.match(rows[0].email, /^anon-[0-9a-f]{24}@anonymized\.invalid$/);
    assert.deepEqual([rows[0].name, rows[0].phone], [null, null]);
    assert.deepEqual(rows[1], { email: "bo@example.com", name: "Bo", phone: "2222222" });
    const again = await finished(ctx, (await submitCsv(ctx, { accountId: account.id, type: "users.anonymize" }, "email\nada@example.com\n")).id);
    assert.deepEqual((await ledger(ctx, again.id)).map((e) => e.outcome), ["not_found"]);
  });

  test("a user another transaction anonymizes while the chunk waits is reported already anonymized, not scrubbed twice", async () => {
    const account = await newAccount(ctx);
    await seedUsers(account.id, "name,email\nAda,ada@example.com\n");
    const pseudonym = "'anon-' || left(encode(sha256(convert_to(lower(email), 'UTF8')), 'hex'), 24) || '@anonymized.invalid'";
    const { rows: [expected] } = await ctx.db.knex.raw(`select ${pseudonym} as email from (select 'ada@example.com' as email) u`);
    const done = await runAgainstOpenTransaction(ctx, { accountId: account.id, type: "users.anonymize" }, "email\nada@example.com\n", (other) =>
      other.query(`update bulkrun.users set email = ${pseudonym}, name = null where account_id = $1`, [account.id]),
    );
    assert.deepEqual((await ledger(ctx, done.id)).map((e) => e.outcome), ["already_anonymized"]);
    assert.deepEqual((await users(ctx, account.id)).map((u) => u.email), [expected.email]);
  });
});
