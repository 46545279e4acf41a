import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test, type TestContext } from "node:test";
import Papa from "papaparse";
import { parseContact } from "../../plugins/users-import/validate.ts";
import { createAccount } from "../../runner/engine/accounts.ts";
import { startHeartbeat, type Heartbeat } from "../../runner/engine/heartbeat.ts";
import { finished, newAccount, submitCsv, users } from "../helpers/actions.ts";
import { lines, runCli, type CliResult } from "../helpers/cli.ts";
import { httpServer } from "../helpers/http.ts";
import { testRuntime, type TestRuntime } from "../helpers/runtime.ts";

let ctx: TestRuntime;
let heartbeat: Heartbeat;
let dir: string;

before(async () => {
  ctx = await testRuntime();
  await ctx.startWorker();
  heartbeat = await startHeartbeat(ctx.db.knex, "cli-test-runner", ["worker"]);
  dir = await mkdtemp(join(tmpdir(), "bulkrun-cli-"));
});
after(async () => {
  await heartbeat?.stop();
  await ctx?.close();
  await rm(dir, { recursive: true, force: true });
});

function bulkrun(...args: string[]): Promise<CliResult> {
  return runCli(args, { databaseUrl: ctx.url });
}

async function csvFile(name: string, content: string | Buffer): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

async function exitsWith(t: TestContext, exit: number, ...results: CliResult[]): Promise<void> {
  await t.test(`exits ${exit}`, () => {
    for (const result of results) assert.equal(result.code, exit, `exit code; stderr: ${result.stderr}`);
  });
}

function assertOneLineError(result: CliResult, code: string, message: RegExp): void {
  const errors = lines(result.stderr);
  assert.equal(errors.length, 1, `expected one line on stderr, got:\n${result.stderr}`);
  assert.doesNotMatch(result.stderr, /^\s+at /m);
  assert.match(errors[0]!, new RegExp(`^bulkrun: .+ \\[${code}\\]$`));
  assert.match(errors[0]!, message);
}

function assertVerboseStack(result: CliResult, code: string): void {
  assert.match(result.stderr, /^ {4}at /m, `expected a stack trace with --verbose, got:\n${result.stderr}`);
  assert.match(lines(result.stderr).at(-1)!, new RegExp(`^bulkrun: .+ \\[${code}\\]$`));
}

function queuedId(result: CliResult): number {
  const match = /^queued bulk action (\d+) for account \S+$/m.exec(result.stdout);
  assert.ok(match, `no "queued bulk action" line in stdout:\n${result.stdout}`);
  return Number(match[1]);
}

function summaryPattern(id: number, counts: { created: number; failed: number; rows: number }): RegExp {
  return new RegExp(
    `^action ${id} completed in [\\d.]+ s: ${counts.created} created, 0 updated, 0 deleted, 0 skipped, ` +
      `${counts.failed} failed \\(${counts.rows} rows, \\d+ rows/s\\)$`,
    "m",
  );
}

async function actionsOf(accountId: number) {
  const { rows } = await ctx.db.knex.raw<{ rows: { status: string; error_code: string | null }[] }>(
    "select status, error_code from bulkrun.bulk_actions where account_id = ? order by id",
    [accountId],
  );
  return rows;
}

describe("errors are one line on stderr with a stable code; --verbose adds the stack", { concurrency: true }, () => {
  const file = (name: string) => join(dir, name);
  const acme = ["--account", "acme"];
  const cases: { name: string; args: () => string[]; databaseUrl?: string; exit: number; code: string; message: RegExp }[] = [
    {
      name: "a missing file",
      args: () => ["import", file("missing.csv"), ...acme],
      exit: 1,
      code: "BULKRUN_ERR_FILE_NOT_FOUND",
      message: /no such file: .*missing\.csv/,
    },
    {
      name: "a binary file",
      args: () => ["import", file("binary.csv"), ...acme],
      exit: 1,
      code: "BULKRUN_ERR_NOT_CSV",
      message: /not a CSV: it contains NUL bytes/,
    },
    {
      name: "a directory given as the file",
      args: () => ["import", file("a-folder"), ...acme],
      exit: 1,
      code: "BULKRUN_ERR_NOT_CSV",
      message: /a-folder is not a regular file; give a CSV file/,
    },
    {
      name: "an unknown account",
      args: () => ["import", file("one-user.csv"), "--account", "initech"],
      exit: 1,
      code: "BULKRUN_ERR_UNKNOWN_ACCOUNT",
      message: /there is no account named `initech`.*create one with `bulkrun accounts create initech`/,
    },
    {
      name: "a bad flag value",
      args: () => ["import", file("one-user.csv"), ...acme, "--on-conflict", "updte"],
      exit: 2,
      code: "BULKRUN_ERR_USAGE",
      message: /--on-conflict must be update or skip \(got `updte`\); did you mean `update`\?/,
    },
    {
      name: "an unknown flag",
      args: () => ["import", file("one-user.csv"), ...acme, "--on-conflit", "skip"],
      exit: 2,
      code: "BULKRUN_ERR_USAGE",
      message: /'--on-conflit'.*did you mean --on-conflict\?/,
    },
    {
      name: "an unknown command",
      args: () => ["improt", "users.csv"],
      exit: 2,
      code: "BULKRUN_ERR_USAGE",
      message: /unknown command `improt`; did you mean `import`\?/,
    },
    {
      name: "an unreachable database",
      args: () => ["import", file("one-user.csv"), ...acme],
      databaseUrl: "postgres://postgres:x@127.0.0.1:1/nope",
      exit: 1,
      code: "BULKRUN_ERR_DB_UNREACHABLE",
      message: /cannot connect to postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/nope/,
    },
  ];

  before(async () => {
    await createAccount(ctx.db.knex, "acme");
    await csvFile("one-user.csv", "email\nada@example.com\n");
    await csvFile("binary.csv", Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0, 0, 0, 0x08, 0, 0x0a, 0x0a]));
    await mkdir(file("a-folder"));
  });

  for (const c of cases) {
    test(`${c.name}: ${c.code} and exit ${c.exit}`, async (t) => {
      const run = (extra: string[]) => runCli([...c.args(), ...extra], { databaseUrl: c.databaseUrl ?? ctx.url });
      const [plain, verbose] = await Promise.all([run([]), run(["--verbose"])]);
      assertOneLineError(plain, c.code, c.message);
      assert.equal(plain.stdout, "");
      assertVerboseStack(verbose, c.code);
      await exitsWith(t, c.exit, plain, verbose);
    });
  }

  test("a CSV without an email column: BULKRUN_ERR_CSV_HEADER, exit 1, and the action is recorded as failed", async (t) => {
    const account = await newAccount(ctx);
    const noEmail = await csvFile("no-email.csv", "name,phone\nAda,0123456789\n");
    const plain = await bulkrun("import", noEmail, "--account", account.name);
    assertOneLineError(plain, "BULKRUN_ERR_CSV_HEADER", /the CSV header has no `email` column \(found: name, phone\)/);
    assert.equal(plain.stdout, "");
    assert.deepEqual(await actionsOf(account.id), [{ status: "failed", error_code: "BULKRUN_ERR_CSV_HEADER" }]);
    const verbose = await bulkrun("import", noEmail, "--account", account.name, "--verbose");
    assertVerboseStack(verbose, "BULKRUN_ERR_CSV_HEADER");
    assert.equal((await users(ctx, account.id)).length, 0);
    await exitsWith(t, 1, plain, verbose);
  });
});

describe("accounts", () => {
  test("create makes an account and ls lists it", async () => {
    const created = await bulkrun("accounts", "create", "globex", "--unlimited");
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^created account globex \(id \d+, no rate limit\)\n$/);
    const standard = await bulkrun("accounts", "create", "hooli");
    assert.match(standard.stdout, /^created account hooli \(id \d+, at most 10000 rows per minute\)\n$/);
    const listed = await bulkrun("accounts", "ls");
    assert.equal(listed.code, 0, listed.stderr);
    const table = lines(listed.stdout);
    assert.equal(table[0], "id\tname\trate limit (rows/min)\trows available now\tfull quota at\tcreated");
    assert.ok(table.some((row) => /^\d+\tglobex\tunlimited\t-\t-\t\d{4}-\d\d-\d\dT/.test(row)), listed.stdout);
    assert.ok(table.some((row) => /^\d+\thooli\t10000\t10000\t\d{4}-/.test(row)), listed.stdout);
  });

  test("ls shows a rate-limited account's remaining quota and when it is full again", async () => {
    const created = await bulkrun("accounts", "create", "limited-co", "--rate-limit", "600");
    assert.equal(created.code, 0, created.stderr);
    const { rows } = await ctx.db.knex.raw("select id from bulkrun.accounts where name = 'limited-co'");
    await ctx.db.knex.raw("select bulkrun_private.take_tokens(?, 600)", [rows[0].id]);
    const listed = await bulkrun("accounts", "ls");
    const row = lines(listed.stdout).find((line) => line.includes("\tlimited-co\t"))!;
    const [, , limit, available, fullAt] = row.split("\t");
    assert.equal(limit, "600");
    assert.ok(Number(available) < 100, `available ${available}`);
    const secondsToFull = (Date.parse(fullAt!) - Date.now()) / 1000;
    assert.ok(secondsToFull > 40 && secondsToFull <= 60, `full in ${secondsToFull} s`);
    const action = await submitCsv(ctx, { accountId: rows[0].id }, "email\nq@example.com\n");
    const shown = await bulkrun("status", String(action.id));
    assert.match(shown.stdout, /^rate limit of its account: \d+ rows available now; full quota at \d{4}-\d\d-\d\dT/m);
  });

  test(
    "creating a name that exists is BULKRUN_ERR_ACCOUNT_EXISTS",
    async (t) => {
      await createAccount(ctx.db.knex, "umbrella");
      const again = await bulkrun("accounts", "create", "umbrella");
      assertOneLineError(again, "BULKRUN_ERR_ACCOUNT_EXISTS", /an account named `umbrella` exists already/);
      await exitsWith(t, 1, again);
    },
  );

  test("a name with capitals or spaces is a usage error and creates nothing", async (t) => {
    const result = await bulkrun("accounts", "create", "Acme Corp");
    assertOneLineError(result, "BULKRUN_ERR_USAGE", /account name `Acme Corp` is not allowed/);
    const { rows } = await ctx.db.knex.raw("select count(*)::int as n from bulkrun.accounts where name = ?", ["Acme Corp"]);
    assert.equal(rows[0].n, 0);
    await exitsWith(t, 2, result);
  });
});

describe("import --wait with a worker running", () => {
  test("imports the file, prints the action id and the summary, and exits 0", async () => {
    const account = await newAccount(ctx);
    const file = await csvFile("good.csv", "name,email,phone\nAda,ada@example.com,+44 20 7946 0018\nBo,bo@example.com,\nCy,cy@example.com,0123456789\n");
    const result = await bulkrun("import", file, "--account", account.name, "--wait");
    assert.equal(result.code, 0, result.stderr);
    const id = queuedId(result);
    assert.match(result.stdout, summaryPattern(id, { created: 3, failed: 0, rows: 3 }));
    assert.doesNotMatch(result.stderr, /bulkrun:|warning/);
    assert.deepEqual((await users(ctx, account.id)).map((u) => [u.email, u.name, u.phone]), [
      ["ada@example.com", "Ada", "+442079460018"],
      ["bo@example.com", "Bo", null],
      ["cy@example.com", "Cy", "0123456789"],
    ]);
  });

  test("invalid rows still complete with exit 0, and logs exports exactly the failed rows as CSV and every row as JSON lines", async () => {
    const account = await newAccount(ctx);
    const file = await csvFile(
      "some-invalid.csv",
      "name,email,phone\nGood One,good1@example.com,\nNo Email,,0123456789\nBad Email,not-an-email,\nBad Phone,phone@example.com,call me\nGood Two,good2@example.com,\n",
    );
    const imported = await bulkrun("import", file, "--account", account.name, "--wait");
    assert.equal(imported.code, 0, imported.stderr);
    const id = queuedId(imported);
    assert.match(imported.stdout, summaryPattern(id, { created: 2, failed: 3, rows: 5 }));

    const [failedCsv, allJson] = await Promise.all([
      bulkrun("logs", String(id), "--status", "failed"),
      bulkrun("logs", String(id), "--format", "json"),
    ]);
    assert.equal(failedCsv.code, 0, failedCsv.stderr);
    assert.equal(
      failedCsv.stdout,
      [
        "row,status,outcome,error,entity_id,email,name,phone",
        "2,failed,invalid,email is empty,,,No Email,0123456789",
        "3,failed,invalid,email `not-an-email` is not an email address,,not-an-email,Bad Email,",
        '4,failed,invalid,"phone `call me` is not a phone number: use 7 to 15 digits, optionally with a leading +",,phone@example.com,Bad Phone,call me',
        "",
      ].join("\n"),
    );

    assert.equal(allJson.code, 0, allJson.stderr);
    const entries = allJson.stdout.trimEnd().split("\n").map((line) => JSON.parse(line));
    const ids = new Map((await users(ctx, account.id)).map((u) => [u.email, u.id]));
    assert.deepEqual(
      entries.map((e) => [e.row, e.status, e.outcome, e.entityId]),
      [
        [1, "succeeded", "created", ids.get("good1@example.com")],
        [2, "failed", "invalid", null],
        [3, "failed", "invalid", null],
        [4, "failed", "invalid", null],
        [5, "succeeded", "created", ids.get("good2@example.com")],
      ],
    );
    assert.deepEqual(entries[3].data, { email: "phone@example.com", name: "Bad Phone", phone: "call me" });
  });

  test("an http URL is fetched by the worker and imported", async () => {
    const account = await newAccount(ctx);
    const server = await httpServer((request, response) => {
      if (request.url !== "/users.csv") return void response.writeHead(404).end();
      response.writeHead(200, { "content-type": "text/csv" }).end("name,email\nUrl One,url1@example.com\nUrl Two,url2@example.com\n");
    });
    try {
      const result = await bulkrun("import", `${server.url}/users.csv`, "--account", account.name, "--wait");
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, summaryPattern(queuedId(result), { created: 2, failed: 0, rows: 2 }));
    } finally {
      await server.close();
    }
    assert.deepEqual((await users(ctx, account.id)).map((u) => [u.email, u.name]), [
      ["url1@example.com", "Url One"],
      ["url2@example.com", "Url Two"],
    ]);
  });
});

describe("logs guards against spreadsheet formula injection", () => {
  test("cells starting with = + - @ get a leading ' and are CSV-quoted when needed; the users table keeps the original", async () => {
    const account = await newAccount(ctx);
    const file = await csvFile(
      "formulas.csv",
      [
        "name,email,phone",
        '"=HYPERLINK(""http://x"",""y"")",f1@example.com,',
        "+SUM(1),f2@example.com,",
        "-2+3,f3@example.com,",
        "@cmd,f4@example.com,",
        '"Smith, Jr.",f5@example.com,',
        "Plain,f6@example.com,+44 20 7946 0018",
      ].join("\n"),
    );
    const imported = await bulkrun("import", file, "--account", account.name, "--wait");
    assert.equal(imported.code, 0, imported.stderr);
    const id = queuedId(imported);
    const stored = await users(ctx, account.id);
    assert.deepEqual(stored.map((u) => [u.email, u.name, u.phone]), [
      ["f1@example.com", '=HYPERLINK("http://x","y")', null],
      ["f2@example.com", "+SUM(1)", null],
      ["f3@example.com", "-2+3", null],
      ["f4@example.com", "@cmd", null],
      ["f5@example.com", "Smith, Jr.", null],
      ["f6@example.com", "Plain", "+442079460018"],
    ]);

    const logs = await bulkrun("logs", String(id));
    assert.equal(logs.code, 0, logs.stderr);
    const [e1, e2, e3, e4, e5, e6] = stored.map((u) => u.id);
    assert.equal(
      logs.stdout,
      [
        "row,status,outcome,error,entity_id,email,name,phone",
        `1,succeeded,created,,${e1},f1@example.com,"'=HYPERLINK(""http://x"",""y"")",`,
        `2,succeeded,created,,${e2},f2@example.com,'+SUM(1),`,
        `3,succeeded,created,,${e3},f3@example.com,'-2+3,`,
        `4,succeeded,created,,${e4},f4@example.com,'@cmd,`,
        `5,succeeded,created,,${e5},f5@example.com,"Smith, Jr.",`,
        `6,succeeded,created,,${e6},f6@example.com,Plain,'+442079460018`,
        "",
      ].join("\n"),
    );
  });
});

describe("status", () => {
  test("lists actions, shows one action's summary, and an unknown id is BULKRUN_ERR_UNKNOWN_ACTION", async (t) => {
    const account = await newAccount(ctx);
    const action = await finished(ctx, (await submitCsv(ctx, { accountId: account.id }, "email\ns1@example.com\ns2@example.com\n")).id);
    assert.equal(action.status, "completed");
    const [list, one, unknown] = await Promise.all([bulkrun("status"), bulkrun("status", String(action.id)), bulkrun("status", "999999")]);

    assert.equal(list.code, 0, list.stderr);
    const table = lines(list.stdout);
    assert.equal(table[0], "id\taccount\ttype\tstatus\tprocessed/total\tcreated\tupdated\tskipped\tfailed");
    assert.ok(table.includes(`${action.id}\t${account.name}\tusers.import\tcompleted\t2/2\t2\t0\t0\t0`), list.stdout);

    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, summaryPattern(action.id, { created: 2, failed: 0, rows: 2 }));

    assertOneLineError(unknown, "BULKRUN_ERR_UNKNOWN_ACTION", /there is no bulk action 999999; list them with `bulkrun status`/);
    await exitsWith(t, 1, unknown);
  });
});

describe("seed", () => {
  test("writes the header and the requested rows, with exactly the reported duplicates and invalid emails", async () => {
    const file = join(dir, "seeded.csv");
    const result = await bulkrun("seed", file, "--rows", "1000", "--duplicates", "2", "--invalid", "1");
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^wrote 1 000 rows \(20 duplicate emails, 10 invalid\) to .*seeded\.csv in [\d.]+ s\n$/);
    const text = await readFile(file, "utf8");
    assert.equal(text.split("\n")[0], "name,email,phone");
    assert.equal(lines(text).length, 1001);
    const { data } = Papa.parse<Record<string, string>>(text, { header: true, skipEmptyLines: true });
    assert.equal(data.length, 1000);
    const parsed = data.map((record) => parseContact(record));
    assert.equal(parsed.filter((p) => "error" in p).length, 10);
    const keys = parsed.flatMap((p) => ("key" in p ? [p.key] : []));
    assert.equal(keys.length - new Set(keys).size, 20);
  });

  test("without --rows is a usage error that writes no file", async (t) => {
    const file = join(dir, "no-rows.csv");
    const result = await bulkrun("seed", file);
    assertOneLineError(result, "BULKRUN_ERR_USAGE", /usage: bulkrun seed <file> --rows N/);
    await assert.rejects(readFile(file), { code: "ENOENT" });
    await exitsWith(t, 2, result);
  });
});

describe("migrate", () => {
  test("on a migrated database says it is up to date", async () => {
    const result = await bulkrun("migrate");
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "the database is up to date\n");
  });
});
