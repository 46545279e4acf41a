import assert from "node:assert/strict";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import type { ActionRow } from "../../runner/engine/actions.ts";
import { openCsv } from "../../runner/engine/csv.ts";
import { isBulkrunError, type ErrorCode } from "../../runner/errors.ts";
import { CASES, created, fixture, FIXTURE_FILES, type Applied, type Refused, type User } from "../fixtures/hostile/cases.ts";
import { finished, ledger, newAccount, submitCsv, users } from "../helpers/actions.ts";
import { httpServer } from "../helpers/http.ts";
import { testRuntime, type TestRuntime } from "../helpers/runtime.ts";

let ctx: TestRuntime;
let web: Awaited<ReturnType<typeof httpServer>>;
const served = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>();
const workerErrors: string[] = [];

before(async () => {
  ctx = await testRuntime({ sources: { urlTimeoutMs: 300, urlAttempts: 3, urlRetryDelayMs: 50 } });
  ctx.log = (line) => {
    if (/^worker (error|warning)/.test(line)) workerErrors.push(line);
  };
  await ctx.startWorker();
  web = await httpServer((req, res) => {
    const handler = served.get(req.url!);
    if (handler) handler(req, res);
    else res.writeHead(404).end("not here");
  });
});
after(async () => {
  await web.close();
  await ctx.close();
});

/** Serves `bytes` in two parts a moment apart, so the reader sees the body arrive in pieces. */
function serveFile(path: string, bytes: Buffer): string {
  served.set(path, (_, res) => {
    res.writeHead(200, { "content-type": "text/csv" });
    const half = Math.floor(bytes.length / 2);
    res.write(bytes.subarray(0, half));
    setTimeout(() => res.end(bytes.subarray(half)), 10);
  });
  return `${web.url}${path}`;
}

async function insertUrlAction(accountId: number, url: string): Promise<number> {
  const { rows } = await ctx.db.knex.raw<{ rows: { id: number }[] }>(
    "insert into bulkrun.bulk_actions (account_id, type, source) values (?, 'users.import', ?) returning id",
    [accountId, JSON.stringify({ url })],
  );
  return rows[0]!.id;
}

async function itemCount(actionId: number): Promise<number> {
  const { rows } = await ctx.db.knex.raw<{ rows: { n: number }[] }>(
    "select count(*)::int as n from bulkrun.bulk_action_items where action_id = ?",
    [actionId],
  );
  return rows[0]!.n;
}

const byEmail = (a: User, b: User) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

/** Every row once, in order, with its outcome and reason; counters equal to the ledger's tallies. */
async function assertApplied(action: ActionRow, accountId: number, expected: Applied): Promise<void> {
  assert.equal(action.status, "completed", action.error ?? undefined);
  const entries = await ledger(ctx, action.id);
  const statusOf = (outcome: string) => (outcome === "created" ? "succeeded" : outcome === "invalid" ? "failed" : "skipped");
  assert.deepEqual(
    entries.map((e) => [e.row_number, e.status, e.outcome, e.error]),
    expected.ledger.map(([row, outcome, error]) => [row, statusOf(outcome), outcome, error ?? null]),
  );
  assert.equal(await itemCount(action.id), expected.ledger.length);
  const count = (pick: (e: (typeof entries)[number]) => boolean) => entries.filter(pick).length;
  assert.deepEqual(
    [action.total, action.processed, action.created, action.updated, action.skipped, action.failed],
    [
      entries.length,
      count((e) => e.status !== "pending"),
      count((e) => e.outcome === "created"),
      count((e) => e.outcome === "updated"),
      count((e) => e.status === "skipped"),
      count((e) => e.status === "failed"),
    ],
  );
  const stored = (await users(ctx, accountId)).map((u): User => [u.email, u.name, u.phone]);
  assert.deepEqual(stored.sort(byEmail), [...expected.users].sort(byEmail));
  assert.deepEqual(action.warnings, expected.warnings ?? []);
}

/** The action failed with the error, and nothing of the file was staged or applied. */
async function assertRefused(action: ActionRow, accountId: number, expected: Refused): Promise<void> {
  assert.deepEqual([action.status, action.error_code, action.error], ["failed", expected.code, expected.message]);
  assert.deepEqual([action.total, action.processed, action.created, action.failed], [null, 0, 0, 0]);
  assert.equal(await itemCount(action.id), 0);
  assert.deepEqual(await users(ctx, accountId), []);
}

describe("hostile files staged by the CLI (submitFile)", () => {
  for (const { name, bytes, expect } of CASES) {
    test(name, async () => {
      const account = await newAccount(ctx);
      if ("code" in expect) {
        await assert.rejects(submitCsv(ctx, { accountId: account.id }, bytes()), (error) => {
          assert.ok(isBulkrunError(error, expect.code), String(error));
          assert.equal(error.message, expect.message);
          return true;
        });
        const { rows } = await ctx.db.knex.raw<{ rows: ActionRow[] }>("select * from bulkrun.bulk_actions where account_id = ?", [account.id]);
        assert.equal(rows.length, 1);
        await assertRefused(rows[0]!, account.id, expect);
      } else {
        const action = await submitCsv(ctx, { accountId: account.id }, bytes());
        await assertApplied(await finished(ctx, action.id), account.id, expect);
      }
    });
  }
});

describe("hostile files fetched by the worker from a URL", () => {
  CASES.forEach(({ name, bytes, expect }, i) => {
    test(name, async () => {
      const account = await newAccount(ctx);
      const action = await finished(ctx, await insertUrlAction(account.id, serveFile(`/case-${i}.csv`, bytes())));
      if ("code" in expect) await assertRefused(action, account.id, expect);
      else await assertApplied(action, account.id, expect);
    });
  });
});

describe("URL sources that fail", () => {
  const GOOD = Buffer.from("name,email\nAda,ada@example.com\nBo,bo@example.com\n");
  let requests: Record<string, number> = {};
  /** What the action looked like whenever a retry arrived: nothing staged, nothing counted. */
  let seenOnRetry: unknown[] = [];

  function route(path: string, handle: (attempt: number, res: ServerResponse) => void): string {
    requests[path] = 0;
    served.set(path, (_, res) => {
      const attempt = ++requests[path]!;
      if (attempt === 1) return handle(attempt, res);
      snapshot(path).then(
        (state) => {
          seenOnRetry.push(state);
          handle(attempt, res);
        },
        (error) => res.destroy(error),
      );
    });
    return `${web.url}${path}`;
  }

  async function snapshot(path: string) {
    const { rows } = await ctx.db.knex.raw<{ rows: unknown[] }>(
      `select status, total, processed, created, failed, (select count(*)::int from bulkrun.bulk_action_items i where i.action_id = a.id) as items
         from bulkrun.bulk_actions a where source->>'url' = ?`,
      [`${web.url}${path}`],
    );
    return rows[0];
  }

  /** Headers and the first `bytes` bytes of the file, then the connection is cut. */
  function breakOff(res: ServerResponse, bytes: number): void {
    res.writeHead(200, { "content-type": "text/csv", "content-length": GOOD.length });
    res.write(GOOD.subarray(0, bytes));
    setTimeout(() => res.socket?.destroy(), 50);
  }

  const NOTHING_STAGED = { status: "preparing", total: null, processed: 0, created: 0, failed: 0, items: 0 };

  async function assertGaveUp(path: string, code: ErrorCode, message: string, attempts: number) {
    const account = await newAccount(ctx);
    requests = {};
    seenOnRetry = [];
    const url = route(path, handlers[path]!);
    const action = await finished(ctx, await insertUrlAction(account.id, url));
    await assertRefused(action, account.id, { code, message: message.replaceAll("URL", url) });
    assert.equal(requests[path], attempts);
    assert.deepEqual(seenOnRetry, Array(attempts - 1).fill(NOTHING_STAGED));
  }

  const handlers: Record<string, (attempt: number, res: ServerResponse) => void> = {
    "/missing.csv": (_, res) => res.writeHead(404).end("not here"),
    "/silent.csv": () => {},
    "/broken.csv": (_, res) => breakOff(res, 20),
    "/stalled.csv": (_, res) => {
      res.writeHead(200, { "content-type": "text/csv" });
      res.write(GOOD.subarray(0, 20));
    },
    "/unavailable.csv": (_, res) => res.writeHead(503).end("down for maintenance"),
    "/recovers.csv": (attempt, res) => (attempt < 3 ? breakOff(res, 30) : res.writeHead(200).end(GOOD)),
    "/throttled.csv": (attempt, res) => (attempt === 1 ? res.writeHead(429).end() : res.writeHead(200).end(GOOD)),
  };

  test("a 404 fails the action at once, without retries", () =>
    assertGaveUp("/missing.csv", "BULKRUN_ERR_URL_FETCH", "GET URL answered HTTP 404", 1));

  test("a server that never answers is given up after urlTimeoutMs, on every attempt", () =>
    assertGaveUp("/silent.csv", "BULKRUN_ERR_URL_UNAVAILABLE", "GET URL failed: Headers Timeout Error (gave up after 3 attempts)", 3));

  test("a body that breaks off mid-stream is retried, and nothing of it is kept", () =>
    assertGaveUp("/broken.csv", "BULKRUN_ERR_URL_UNAVAILABLE", "GET URL broke off after 20 bytes: other side closed (gave up after 3 attempts)", 3));

  test("a body that stops arriving times out like a silent server", () =>
    assertGaveUp("/stalled.csv", "BULKRUN_ERR_URL_UNAVAILABLE", "GET URL broke off after 20 bytes: Body Timeout Error (gave up after 3 attempts)", 3));

  test("a 503 on every attempt fails the action after the retries", () =>
    assertGaveUp("/unavailable.csv", "BULKRUN_ERR_URL_UNAVAILABLE", "GET URL answered HTTP 503 (gave up after 3 attempts)", 3));

  for (const [path, what, attempts] of [["/recovers.csv", "breaks off twice", 3], ["/throttled.csv", "answers 429 once", 2]] as const) {
    test(`a URL that ${what} and then answers imports every row exactly once`, async () => {
      const account = await newAccount(ctx);
      requests = {};
      seenOnRetry = [];
      const action = await finished(ctx, await insertUrlAction(account.id, route(path, handlers[path]!)));
      await assertApplied(action, account.id, {
        ledger: [created(1), created(2)],
        users: [["ada@example.com", "Ada", null], ["bo@example.com", "Bo", null]],
      });
      assert.equal(action.error, null);
      assert.equal(requests[path], attempts);
      assert.deepEqual(seenOnRetry, Array(attempts - 1).fill(NOTHING_STAGED));
    });
  }
});

/** What the reader makes of bytes arriving in pieces of `size`: the header and rows, or its error. */
async function read(bytes: Buffer, size: number) {
  const pieces: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) pieces.push(bytes.subarray(at, at + size));
  try {
    const reader = await openCsv(Readable.from(pieces, { objectMode: false }));
    const rows: string[][] = [];
    for await (const batch of reader.batches) rows.push(...batch);
    return { header: reader.header, rows };
  } catch (error) {
    return { error: String(error) };
  }
}

describe("every file reads the same however its bytes are split", () => {
  for (const file of FIXTURE_FILES) {
    test(file, async () => {
      const whole = await read(fixture(file), Infinity);
      for (const size of [1, 2, 3, 5, 64]) assert.deepEqual(await read(fixture(file), size), whole, `pieces of ${size} bytes`);
    });
  }
});

test("no job crashed or was retried while the hostile files ran", () => {
  assert.deepEqual(workerErrors, []);
});
