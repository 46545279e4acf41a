import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { finished, ledger, newAccount, users } from "../helpers/actions.ts";
import { httpServer } from "../helpers/http.ts";
import { testRuntime, type TestRuntime } from "../helpers/runtime.ts";

let ctx: TestRuntime;
let web: Awaited<ReturnType<typeof httpServer>>;
let requests: string[] = [];

before(async () => {
  ctx = await testRuntime();
  await ctx.startWorker();
  web = await httpServer((req, res) => {
    requests.push(req.url!);
    if (req.url === "/contacts.csv") {
      res.writeHead(200, { "content-type": "text/csv" });
      res.write("\uFEFFname,email,phone\nZoë Ærø,zoe@example.com,0123456\n");
      setTimeout(() => res.end("Бора,bora@example.com,\nbad,nope,\n"), 50);
    } else if (req.url === "/moved") {
      res.writeHead(302, { location: "/contacts.csv" }).end();
    } else if (req.url === "/flaky") {
      res.writeHead(503).end();
    } else {
      res.writeHead(404).end("not here");
    }
  });
});
after(async () => {
  await web.close();
  await ctx.close();
});

async function insertAction(accountId: number, source: unknown, options: unknown = {}, type = "users.import") {
  const { rows } = await ctx.db.knex.raw<{ rows: { id: number; status: string }[] }>(
    "insert into bulkrun.bulk_actions (account_id, type, options, source) values (?, ?, ?, ?) returning id, status",
    [accountId, type, JSON.stringify(options), JSON.stringify(source)],
  );
  return rows[0]!;
}

describe("starting an action with plain SQL", () => {
  test("an insert with inline rows runs the import", async () => {
    const account = await newAccount(ctx);
    const inserted = await insertAction(account.id, { rows: [{ name: "Ann", email: "ann@example.com" }, { email: "bob@example.com", phone: "0123456789" }] });
    assert.equal(inserted.status, "queued");
    const done = await finished(ctx, inserted.id);
    assert.equal(done.status, "completed");
    assert.deepEqual((await users(ctx, account.id)).map((u) => [u.email, u.name, u.phone]), [
      ["ann@example.com", "Ann", null],
      ["bob@example.com", null, "0123456789"],
    ]);
  });

  test("an insert with a URL source streams the CSV over HTTP (BOM, unicode, redirects)", async () => {
    const account = await newAccount(ctx);
    const done = await finished(ctx, (await insertAction(account.id, { url: `${web.url}/moved` })).id);
    assert.equal(done.status, "completed");
    assert.deepEqual([done.total, done.created, done.failed], [3, 2, 1]);
    assert.deepEqual((await users(ctx, account.id)).map((u) => u.name), ["Бора", "Zoë Ærø"]);
    assert.deepEqual((await ledger(ctx, done.id)).map((e) => e.outcome), ["created", "created", "invalid"]);
  });

  test("a URL answering 404 fails the action at once with the reason", async () => {
    const account = await newAccount(ctx);
    requests = [];
    const done = await finished(ctx, (await insertAction(account.id, { url: `${web.url}/missing.csv` })).id);
    assert.equal(done.status, "failed");
    assert.equal(done.error_code, "BULKRUN_ERR_URL_FETCH");
    assert.equal(done.error, `GET ${web.url}/missing.csv answered HTTP 404`);
    assert.deepEqual(requests, ["/missing.csv"]);
  });

  test("bad options and unknown action types fail the action with the same message the CLI gives", async () => {
    const account = await newAccount(ctx);
    const badOption = await finished(ctx, (await insertAction(account.id, { rows: [] }, { on_conflict: "merge" })).id);
    assert.equal(badOption.status, "failed");
    assert.equal(badOption.error_code, "BULKRUN_ERR_OPTIONS");
    assert.equal(badOption.error, 'users.import: option `on_conflict` must be one of `update`, `skip` (got "merge")');
    const badType = await finished(ctx, (await insertAction(account.id, { rows: [] }, {}, "users.imprt")).id);
    assert.equal(badType.error_code, "BULKRUN_ERR_UNKNOWN_ACTION_TYPE");
    assert.match(badType.error!, /no plugin handles action type `users.imprt`/);
  });

  test("an action without a usable source fails with an example of one", async () => {
    const account = await newAccount(ctx);
    const done = await finished(ctx, (await insertAction(account.id, {})).id);
    assert.equal(done.error_code, "BULKRUN_ERR_SOURCE");
    assert.match(done.error!, /use \{"url": "https:\/\/\.\.\."\}, \{"rows": \[\{\.\.\.\}\]\} or \{"where": \{\.\.\.\}\}/);
  });

  test("an empty inline source completes at once with zero rows", async () => {
    const account = await newAccount(ctx);
    const done = await finished(ctx, (await insertAction(account.id, { rows: [] })).id);
    assert.deepEqual([done.status, done.total, done.processed], ["completed", 0, 0]);
  });
});
