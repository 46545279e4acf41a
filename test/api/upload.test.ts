import assert from "node:assert/strict";
import { request } from "node:http";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import { finished, ledger, users } from "../helpers/actions.ts";
import { apiFixture, type ApiFixture } from "./client.ts";

const MAX = 4096;
let f: ApiFixture;

before(async () => {
  f = await apiFixture({ api: { maxUploadBytes: MAX } });
  await f.ctx.startWorker();
});
after(() => f.close());

async function post(query: string, body: string | Readable, headers: Record<string, string> = {}, token: string | null = f.a.token) {
  const response = await fetch(`${f.api.url}/upload?${query}`, {
    method: "POST",
    headers: { "content-type": "text/csv", ...(token && { authorization: `Bearer ${token}` }), ...headers },
    body: body instanceof Readable ? (Readable.toWeb(body) as ReadableStream) : body,
    duplex: "half",
  } as RequestInit);
  return { status: response.status, body: (await response.json()) as any };
}

const actionCount = async (accountId: number) =>
  Number(((await f.ctx.db.knex("bulkrun.bulk_actions").where({ account_id: accountId }).count().first()) as { count: string }).count);

describe("POST /upload", () => {
  test("creates an import with its rows in one request, for the token's account, with options from the query", async () => {
    const csv = "name,email\nAda,ada@example.com\nBo,bo@example.com\n";
    const { status, body } = await post("type=users.import&onConflict=skip&chunkSize=1", csv);
    assert.equal(status, 201);
    assert.deepEqual([body.accountId, body.type, body.status, body.warnings], [f.a.id, "users.import", "queued", []]);
    const done = await finished(f.ctx, body.id);
    assert.deepEqual([done.status, done.created, done.options, done.chunk_size], ["completed", 2, { on_conflict: "skip" }, 1]);
    assert.deepEqual((await users(f.ctx, f.a.id)).map((u) => u.email), ["ada@example.com", "bo@example.com"]);
  });

  test("a body streamed in pieces without a length is staged as it arrives", async () => {
    const pieces = ["name,em", "ail\nCy,cy@exa", "mple.com\nDi,di@example.com", "\n"];
    const { status, body } = await post("type=users.import", Readable.from(pieces.map((p) => Buffer.from(p))));
    assert.equal(status, 201);
    const done = await finished(f.ctx, body.id);
    assert.deepEqual((await ledger(f.ctx, done.id)).map((e) => e.outcome), ["created", "created"]);
  });

  test("refuses what it cannot take with a JSON error that says what was wrong", async () => {
    const before = await actionCount(f.a.id);
    const cases: [string, string | Readable, Record<string, string>, string | null, number, string, RegExp][] = [
      ["type=users.import", "email\na@example.com\n", { "content-type": "application/json" }, f.a.token, 415, "BULKRUN_ERR_UPLOAD", /Content-Type: text\/csv/],
      ["type=users.import", "email\na@example.com\n", {}, null, 401, "BULKRUN_ERR_UNAUTHORIZED", /Bearer/],
      ["", "email\na@example.com\n", {}, f.a.token, 400, "BULKRUN_ERR_UPLOAD", /type=users.import/],
      ["type=users.imprt", "email\na@example.com\n", {}, f.a.token, 400, "BULKRUN_ERR_UNKNOWN_ACTION_TYPE", /no plugin handles action type `users.imprt`/],
      ["type=users.import&onConflit=skip", "email\na@example.com\n", {}, f.a.token, 400, "BULKRUN_ERR_OPTIONS", /did you mean `on_conflict`/],
      ["type=users.import", "x".repeat(MAX + 1), {}, f.a.token, 413, "BULKRUN_ERR_UPLOAD", /larger than 4096 bytes/],
      ["type=users.import", Readable.from([Buffer.from(`email\n${"a@example.com\n".repeat(400)}`)]), {}, f.a.token, 413, "BULKRUN_ERR_UPLOAD", /larger than 4096 bytes/],
      [`type=users.import&account=${f.b.name}`, "email\na@example.com\n", {}, f.a.token, 403, "BULKRUN_ERR_UNAUTHORIZED", /own account/],
      ["type=users.import", "email\na@example.com\n", {}, f.adminToken, 400, "BULKRUN_ERR_UPLOAD", /must say which account/],
    ];
    for (const [query, body, headers, token, status, code, message] of cases) {
      const answer = await post(query, body, headers, token);
      assert.equal(answer.status, status, `${query}: ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.error.code, code);
      assert.match(answer.body.error.message, message);
    }
    assert.equal(await actionCount(f.a.id), before, "no action was created");
    assert.equal(await actionCount(f.b.id), 0);
  });

  test("a file without the required column is recorded as a failed action and answered 422, as the CLI does", async () => {
    const { status, body } = await post("type=users.import", "name,phone\nAda,123\n");
    assert.equal(status, 422);
    assert.equal(body.error.code, "BULKRUN_ERR_CSV_HEADER");
  });

  test("an admin token uploads for the account it names", async () => {
    const { status, body } = await post(`type=users.import&account=${f.b.name}`, "email\nadmin-made@example.com\n", {}, f.adminToken);
    assert.equal(status, 201);
    assert.equal(body.accountId, f.b.id);
  });

  test("an upload that breaks off leaves no action behind: the transaction rolls back", async () => {
    const before = await actionCount(f.a.id);
    const url = new URL(`${f.api.url}/upload?type=users.import`);
    const req = request(url, { method: "POST", headers: { "content-type": "text/csv", authorization: `Bearer ${f.a.token}` } });
    req.on("error", () => {});
    req.write("name,email\n");
    for (let i = 0; i < 50; i++) req.write(`User ${i},user${i}@example.com\n`);
    await sleep(300);
    req.destroy();
    await sleep(500);
    assert.equal(await actionCount(f.a.id), before);
    const { rows } = await f.ctx.db.knex.raw("select count(*)::int as n from pg_stat_activity where datname = current_database() and state like 'idle in transaction%'");
    assert.equal(rows[0].n, 0, "no transaction was left open");
    assert.equal((await post("type=users.import", "email\nafter@example.com\n")).status, 201, "the API still serves");
  });
});
