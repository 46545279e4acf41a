import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { revokeToken, createToken } from "../../runner/engine/tokens.ts";
import { submitCsv } from "../helpers/actions.ts";
import { apiFixture, type ApiFixture } from "./client.ts";

let f: ApiFixture;
let actionA: number;
let actionB: number;

before(async () => {
  f = await apiFixture();
  actionA = (await submitCsv(f.ctx, { accountId: f.a.id }, "name,email\nAda,ada@example.com\n")).id;
  actionB = (await submitCsv(f.ctx, { accountId: f.b.id }, "name,email\nBo,bo@example.com\nCy,cy@example.com\n")).id;
});
after(() => f.close());

const status = async (id: number) => (await f.ctx.db.knex("bulkrun.bulk_actions").where({ id }).first()).status as string;

describe("tenants over HTTP", () => {
  test("an account token reads and counts its own account's actions, items, chunks, users and account only", async () => {
    const result = await f.gql(f.a.token, `{
      allBulkActions { totalCount nodes { rowId accountId } }
      allBulkActionItems { totalCount nodes { actionId } }
      allBulkActionChunks { totalCount }
      allAccounts { nodes { rowId name } }
      other: bulkActionByRowId(rowId: "${actionB}") { rowId }
      otherItems: allBulkActionItems(condition: { actionId: "${actionB}" }) { totalCount }
      otherAccount: accountByRowId(rowId: "${f.b.id}") { name }
    }`);
    assert.equal(result.errors, undefined);
    const data = result.data;
    assert.deepEqual(data.allBulkActions, { totalCount: 1, nodes: [{ rowId: String(actionA), accountId: String(f.a.id) }] });
    assert.deepEqual(data.allBulkActionItems.totalCount, 1);
    assert.deepEqual(data.allBulkActionItems.nodes, [{ actionId: String(actionA) }]);
    assert.deepEqual(data.allAccounts.nodes, [{ rowId: String(f.a.id), name: f.a.name }]);
    assert.equal(data.other, null);
    assert.equal(data.otherItems.totalCount, 0);
    assert.equal(data.otherAccount, null);
  });

  test("a request without a token sees nothing; an admin token sees every account", async () => {
    const query = "{ allBulkActions { totalCount } allAccounts { totalCount } allBulkActionItems { totalCount } }";
    const anonymous = await f.gql(undefined, query);
    assert.deepEqual(anonymous.data, { allBulkActions: { totalCount: 0 }, allAccounts: { totalCount: 0 }, allBulkActionItems: { totalCount: 0 } });
    const admin = await f.gql(f.adminToken, query);
    assert.deepEqual(admin.data, { allBulkActions: { totalCount: 2 }, allAccounts: { totalCount: 2 }, allBulkActionItems: { totalCount: 3 } });
  });

  for (const control of ["pauseAction", "cancelAction", "resumeAction", "retryAction", "applyDryRun"]) {
    test(`account A cannot ${control} account B's action: it does not exist for A`, async () => {
      const result = await f.gql(f.a.token, `mutation { ${control}(input: { actionId: "${actionB}" }) { result { rowId status } } }`);
      assert.equal(result.errors?.[0]?.message, `bulk action ${actionB} does not exist`);
      assert.equal(result.errors?.[0]?.extensions?.code, "BULKRUN_ERR_UNKNOWN_ACTION");
      assert.equal(await status(actionB), "queued");
      const { count } = (await f.ctx.db.knex("bulkrun.bulk_actions").where({ parent_id: actionB }).count().first()) as { count: string };
      assert.equal(Number(count), 0);
    });
  }

  test("account A cancels its own action", async () => {
    const own = (await submitCsv(f.ctx, { accountId: f.a.id }, "email\nx@example.com\n")).id;
    const result = await f.gql(f.a.token, `mutation { cancelAction(input: { actionId: "${own}" }) { result { rowId status } } }`);
    assert.deepEqual(result.data?.cancelAction.result, { rowId: String(own), status: "cancelled" });
    assert.equal(await status(own), "cancelled");
  });

  test("account A creates actions for itself only: accountId defaults to its own, and B's is refused", async () => {
    const mine = await f.gql(f.a.token, `mutation {
      createBulkAction(input: { bulkAction: { type: "users.import", source: { rows: [{ email: "new@example.com" }] } } }) {
        bulkAction { rowId accountId status }
      }
    }`);
    assert.equal(mine.errors, undefined);
    assert.equal(mine.data.createBulkAction.bulkAction.accountId, String(f.a.id));
    assert.equal(mine.data.createBulkAction.bulkAction.status, "queued");
    const job = await f.ctx.db.knex.raw("select 1 from graphile_worker.jobs where key = ?", [`bulkrun.prepare:${mine.data.createBulkAction.bulkAction.rowId}`]);
    assert.equal(job.rows.length, 1, "the insert trigger enqueued the prepare job");

    const before = await f.ctx.db.knex("bulkrun.bulk_actions").where({ account_id: f.b.id }).count().first();
    const theirs = await f.gql(f.a.token, `mutation {
      createBulkAction(input: { bulkAction: { accountId: "${f.b.id}", type: "users.import", source: { rows: [{ email: "evil@example.com" }] } } }) {
        bulkAction { rowId }
      }
    }`);
    assert.equal(theirs.errors?.[0]?.extensions?.code, "BULKRUN_ERR_UNAUTHORIZED");
    assert.deepEqual(await f.ctx.db.knex("bulkrun.bulk_actions").where({ account_id: f.b.id }).count().first(), before);
  });

  test("a follow-up of another action cannot be created directly (source kind copy)", async () => {
    const result = await f.gql(f.a.token, `mutation {
      createBulkAction(input: { bulkAction: { type: "users.import", source: { kind: "copy", from: ${actionB}, rows: "all" } } }) { bulkAction { rowId } }
    }`);
    assert.equal(result.errors?.[0]?.extensions?.code, "BULKRUN_ERR_UNAUTHORIZED");
  });

  test("an anonymous request cannot create an action", async () => {
    const result = await f.gql(undefined, `mutation {
      createBulkAction(input: { bulkAction: { type: "users.import", source: { rows: [{ email: "anon@example.com" }] } } }) { bulkAction { rowId } }
    }`);
    assert.equal(result.errors?.[0]?.extensions?.code, "BULKRUN_ERR_UNAUTHORIZED");
  });

  test("a revoked token, an unknown token and a malformed header are refused with 401", async () => {
    const { id, token } = await createToken(f.ctx.db.knex, f.a.id, "short-lived");
    const valid = await f.gql(token, "{ allAccounts { nodes { name } } }");
    assert.deepEqual(valid.data.allAccounts.nodes, [{ name: f.a.name }]);
    await revokeToken(f.ctx.db.knex, id);
    const revoked = await f.gql(token, "{ allBulkActions { totalCount } }");
    assert.equal(revoked.status, 401);
    assert.equal(revoked.errors?.[0]?.extensions?.code, "BULKRUN_ERR_UNAUTHORIZED");
    assert.equal((await f.gql("bulkrun_not-a-real-token", "{ __typename }")).status, 401);
    const malformed = await fetch(`${f.api.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Token abc" },
      body: JSON.stringify({ query: "{ __typename }" }),
    });
    assert.equal(malformed.status, 401);
  });
});
