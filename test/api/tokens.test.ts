import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, test } from "node:test";
import { authenticate } from "../../runner/engine/tokens.ts";
import { newAccount } from "../helpers/actions.ts";
import { lines, runCli } from "../helpers/cli.ts";
import { testRuntime, type TestRuntime } from "../helpers/runtime.ts";

let ctx: TestRuntime;

before(async () => {
  ctx = await testRuntime();
});
after(() => ctx.close());

const bulkrun = (...args: string[]) => runCli(args, { databaseUrl: ctx.url, timeoutMs: 120_000 });

test("bulkrun tokens: create shows the token once and keeps only its SHA-256; ls lists it; revoke refuses it", async () => {
  const account = await newAccount(ctx, "tokens-co");
  const created = await bulkrun("tokens", "create", "--account", "tokens-co", "--name", "ci");
  assert.equal(created.code, 0, created.stderr);
  const token = created.stdout.trim();
  assert.match(token, /^bulkrun_[\w-]{43}$/);
  assert.match(created.stderr, /shown only this once/);

  const { rows } = await ctx.db.knex.raw("select id, account_id, name, encode(token_hash, 'hex') as hash from bulkrun_private.api_tokens");
  assert.deepEqual(rows.map((r: { account_id: number; name: string; hash: string }) => [r.account_id, r.name, r.hash]), [
    [account.id, "ci", createHash("sha256").update(token).digest("hex")],
  ]);
  assert.deepEqual(await authenticate(ctx.db.knex, token), { kind: "account", tokenId: rows[0].id, accountId: account.id });

  const listed = await bulkrun("tokens", "ls");
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(lines(listed.stdout)[1]!, new RegExp(`^${rows[0].id}\\ttokens-co\\tci\\t\\d{4}-`));
  assert.doesNotMatch(listed.stdout, new RegExp(token));

  const revoked = await bulkrun("tokens", "revoke", String(rows[0].id));
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.equal(await authenticate(ctx.db.knex, token), undefined);

  const unknown = await bulkrun("tokens", "revoke", "999");
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /there is no API token 999.*\[BULKRUN_ERR_UNKNOWN_TOKEN\]/);
});
