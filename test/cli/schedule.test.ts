import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import { transitionAction } from "../../runner/engine/actions.ts";
import { cancelScheduledAction, createSchedule, rescheduleAction } from "../../runner/engine/schedules.ts";
import { finished, ledger, newAccount, submitCsv, users } from "../helpers/actions.ts";
import { lines, runCli, startCli, type CliResult } from "../helpers/cli.ts";
import { httpServer } from "../helpers/http.ts";
import { testRuntime, type TestRuntime } from "../helpers/runtime.ts";
import { until } from "../helpers/until.ts";

let ctx: TestRuntime;
let dir: string;
let csv: string;

before(async () => {
  ctx = await testRuntime();
  await ctx.startWorker();
  dir = await mkdtemp(join(tmpdir(), "bulkrun-schedule-"));
  csv = join(dir, "users.csv");
  await writeFile(csv, "name,email\nAda,ada@example.com\nBo,bo@example.com\n");
});
after(async () => {
  await ctx?.close();
  await rm(dir, { recursive: true, force: true });
});

function bulkrun(...args: string[]): Promise<CliResult> {
  return runCli(args, { databaseUrl: ctx.url });
}

function assertError(result: CliResult, exit: number, code: string, message: string): void {
  assert.equal(result.stderr, `bulkrun: ${message} [${code}]\n`);
  assert.equal(result.code, exit);
  assert.equal(result.stdout, "");
}

async function actionRow(id: number) {
  const { rows } = await ctx.db.knex.raw<{ rows: { status: string; run_at: Date | null; started_at: Date | null; finished_at: Date | null }[] }>(
    "select status, run_at, started_at, finished_at from bulkrun.bulk_actions where id = ?",
    [id],
  );
  return rows[0]!;
}

async function prepareJob(actionId: number): Promise<{ run_at: Date } | undefined> {
  const { rows } = await ctx.db.knex.raw("select run_at from graphile_worker.jobs where key = ?", [`bulkrun.prepare:${actionId}`]);
  return rows[0];
}


/** A whole-second instant `ms` from now, and how it reads at UTC+05:30. */
function later(ms: number): { at: Date; kolkata: string } {
  const at = new Date(Math.ceil((Date.now() + ms) / 1000) * 1000);
  return { at, kolkata: new Date(at.getTime() + 330 * 60_000).toISOString().replace(".000Z", "+05:30") };
}

describe("one-off actions at a given time", () => {
  test("an action submitted to start 2 s ahead waits as scheduled, then runs", async () => {
    const account = await newAccount(ctx);
    const runAt = new Date(Date.now() + 2000);
    const action = await submitCsv(ctx, { accountId: account.id, runAt }, "email\nat1@example.com\nat2@example.com\n");
    assert.equal(action.status, "scheduled");
    await sleep(1000);
    assert.deepEqual([(await actionRow(action.id)).status, (await users(ctx, account.id)).length], ["scheduled", 0]);
    const done = await finished(ctx, action.id);
    assert.equal(done.status, "completed");
    assert.ok(done.started_at!.getTime() >= runAt.getTime(), `started ${done.started_at!.toISOString()}, due ${runAt.toISOString()}`);
    assert.equal((await users(ctx, account.id)).length, 2);
  });

  test("import --at schedules the action; reschedule --at moves its prepare job; moved to now it runs", async () => {
    const account = await newAccount(ctx);
    const first = later(3_600_000);
    const imported = await bulkrun("import", csv, "--account", account.name, "--at", first.kolkata);
    assert.equal(imported.code, 0, imported.stderr);
    const id = Number(/^scheduled bulk action (\d+) for account /.exec(imported.stdout)?.[1]);
    assert.equal(imported.stdout, `scheduled bulk action ${id} for account ${account.name} at ${first.at.toISOString()}\n`);
    assert.deepEqual([(await actionRow(id)).status, (await actionRow(id)).run_at], ["scheduled", first.at]);
    assert.deepEqual((await prepareJob(id))?.run_at, first.at);

    const second = later(7_200_000);
    const moved = await bulkrun("reschedule", String(id), "--at", second.at.toISOString());
    assert.equal(moved.code, 0, moved.stderr);
    assert.equal(moved.stdout, `bulk action ${id} starts at ${second.at.toISOString()}\n`);
    assert.deepEqual([(await actionRow(id)).status, (await actionRow(id)).run_at], ["scheduled", second.at]);
    assert.deepEqual((await prepareJob(id))?.run_at, second.at);

    const soon = new Date(Date.now() + 1000);
    await rescheduleAction(ctx.db.knex, id, soon);
    const done = await finished(ctx, id);
    assert.equal(done.status, "completed");
    assert.ok(done.started_at!.getTime() >= soon.getTime());
    assert.deepEqual((await users(ctx, account.id)).map((u) => u.email), ["ada@example.com", "bo@example.com"]);
  });

  test("a scheduled action cancelled before it starts never runs and shows cancelled", async () => {
    const account = await newAccount(ctx);
    const action = await submitCsv(ctx, { accountId: account.id, runAt: new Date(Date.now() + 1000) }, "email\nnever@example.com\n");
    const cancelled = await cancelScheduledAction(ctx.db.knex, action.id);
    assert.equal(cancelled.status, "cancelled");
    assert.equal(await prepareJob(action.id), undefined);
    await sleep(2500);
    const row = await actionRow(action.id);
    assert.deepEqual([row.status, row.started_at], ["cancelled", null]);
    assert.ok(row.finished_at);
    assert.deepEqual((await ledger(ctx, action.id)).map((e) => e.status), ["pending"]);
    assert.equal((await users(ctx, account.id)).length, 0);
  });

  test("a scheduled action cancelled through its status alone: the prepare job runs at its time, finds it cancelled, does nothing", async () => {
    const account = await newAccount(ctx);
    const action = await submitCsv(ctx, { accountId: account.id, runAt: new Date(Date.now() + 1000) }, "email\nnever2@example.com\n");
    await transitionAction(ctx.db.knex, action.id, "cancelled");
    assert.ok(await prepareJob(action.id));
    await until("the prepare job gone", async () => (await prepareJob(action.id)) === undefined);
    const row = await actionRow(action.id);
    assert.deepEqual([row.status, row.started_at], ["cancelled", null]);
    assert.equal((await users(ctx, account.id)).length, 0);
  });

  test("only a scheduled action can be rescheduled or cancelled this way", async () => {
    const account = await newAccount(ctx);
    const done = await finished(ctx, (await submitCsv(ctx, { accountId: account.id }, "email\ndone@example.com\n")).id);
    const [completed, unknown] = await Promise.all([
      bulkrun("reschedule", String(done.id), "--at", later(60_000).at.toISOString()),
      bulkrun("reschedule", "999999", "--at", later(60_000).at.toISOString()),
    ]);
    assertError(completed, 1, "BULKRUN_ERR_INVALID_TRANSITION", `bulk action ${done.id} is completed; only a scheduled action can be rescheduled`);
    assertError(unknown, 1, "BULKRUN_ERR_UNKNOWN_ACTION", "bulk action 999999 does not exist");
    await assert.rejects(cancelScheduledAction(ctx.db.knex, done.id), {
      code: "BULKRUN_ERR_INVALID_TRANSITION",
      message: `bulk action ${done.id} is completed; only a scheduled action can be cancelled before it starts`,
    });
    assert.equal((await actionRow(done.id)).status, "completed");
  });
});

describe("bulkrun schedule", () => {
  test("add, ls, pause, resume and rm", async () => {
    const account = await newAccount(ctx);
    const url = "https://example.com/users.csv";
    const added = await bulkrun(
      "schedule", "add", "0 30 3 * * 1-5", "--account", account.name, "--tz", "europe/berlin", "--catch-up", "latest",
      "import", url, "--on-conflict", "skip",
    );
    assert.equal(added.code, 0, added.stderr);
    const id = Number(/^created schedule (\d+):/.exec(added.stdout)?.[1]);
    const nextTick = String.raw`\d{4}-\d\d-\d\dT03:30:00\+0[12]:00`;
    assert.match(
      added.stdout,
      new RegExp(String.raw`^created schedule ${id}: import ${url} for account ${account.name} at \`0 30 3 \* \* 1-5\` \(Europe/Berlin\); next tick ${nextTick}\n$`),
    );
    const { rows } = await ctx.db.knex.raw("select * from bulkrun.schedules where id = ?", [id]);
    assert.deepEqual(
      [rows[0].account_id, rows[0].cron, rows[0].time_zone, rows[0].type, rows[0].options, rows[0].source, rows[0].catch_up, rows[0].enabled],
      [account.id, "0 30 3 * * 1-5", "Europe/Berlin", "users.import", { on_conflict: "skip" }, { kind: "url", url }, "latest", true],
    );
    assert.ok([1, 2, 3, 4, 5].includes(rows[0].next_fire_at.getUTCDay()), "the next tick is on a weekday");

    const row = (state: string, next: string) => new RegExp(String.raw`^${id}\t${account.name}\t0 30 3 \* \* 1-5\tEurope/Berlin\tusers\.import\t${url}\tlatest\t${state}\t-\t${next}$`);
    const header = "id\taccount\tcron\ttime zone\taction\tsource\tcatch-up\tstate\tlast fired\tnext tick";
    const listed = await bulkrun("schedule", "ls", "--account", account.name);
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal(lines(listed.stdout)[0], header);
    assert.match(lines(listed.stdout)[1]!, row("active", nextTick));

    const paused = await bulkrun("schedule", "pause", String(id));
    assert.equal(paused.stdout, `paused schedule ${id}\n`);
    assert.match(lines((await bulkrun("schedule", "ls", "--account", account.name)).stdout)[1]!, row("paused", "-"));

    const resumed = await bulkrun("schedule", "resume", String(id));
    assert.match(resumed.stdout, new RegExp(`^resumed schedule ${id}; next tick ${nextTick}\n$`));
    assert.match(lines((await bulkrun("schedule", "ls", "--account", account.name)).stdout)[1]!, row("active", nextTick));

    const removed = await bulkrun("schedule", "rm", String(id));
    assert.equal(removed.stdout, `removed schedule ${id}; the actions it started are kept\n`);
    const [emptied, again] = await Promise.all([bulkrun("schedule", "ls", "--account", account.name), bulkrun("schedule", "rm", String(id))]);
    assert.deepEqual(lines(emptied.stdout), [header]);
    assertError(again, 1, "BULKRUN_ERR_UNKNOWN_SCHEDULE", `there is no schedule ${id}; list them with \`bulkrun schedule ls\``);
  });

  test("a runner process fires a schedule's ticks as actions, and stops firing when it stops", async () => {
    const account = await newAccount(ctx);
    const web = await httpServer((_, response) => response.writeHead(200).end("email\ntick@example.com\n"));
    const runner = startCli(["worker"], { databaseUrl: ctx.url });
    try {
      await runner.stderrMatches(/bulkrun worker running/);
      const every = await createSchedule(ctx, { accountId: account.id, cron: "* * * * * *", type: "users.import", source: { url: `${web.url}/users.csv` } });
      const fired = async () => {
        const { rows } = await ctx.db.knex.raw("select id from bulkrun.bulk_actions where schedule_id = ? order by id", [every.id]);
        return rows.map((r: { id: number }) => r.id);
      };
      await until("two firings", async () => (await fired()).length >= 2);
      const done = await finished(ctx, (await fired())[0]);
      assert.equal(done.status, "completed");
      runner.child.kill("SIGTERM");
      const result = await runner.result;
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, new RegExp(`schedule ${every.id}: tick \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z started bulk action ${done.id}`));
      const atExit = await fired();
      await sleep(1500);
      assert.deepEqual(await fired(), atExit);
      assert.deepEqual((await users(ctx, account.id)).map((u) => u.email), ["tick@example.com"]);
    } finally {
      runner.child.kill("SIGKILL");
      await web.close();
    }
  });
});

describe("command-line validation: one line on stderr, an exact message, nothing created", { concurrency: 4 }, () => {
  const url = "https://example.com/users.csv";
  const cases: { name: string; args: () => string[]; exit: number; code: string; message: string }[] = [
    {
      name: "a cron field out of range",
      args: () => ["schedule", "add", "61 * * * *", "--account", "acme", "import", url],
      exit: 1,
      code: "BULKRUN_ERR_SCHEDULE",
      message:
        'invalid cron expression `61 * * * *`: `61` is not a valid minute (0-59). Use 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, e.g. "0 3 * * *"',
    },
    {
      name: "a cron with too few fields",
      args: () => ["schedule", "add", "* * *", "--account", "acme", "import", url],
      exit: 1,
      code: "BULKRUN_ERR_SCHEDULE",
      message:
        'invalid cron expression `* * *`: expected 5 or 6 fields but got 3. Use 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, e.g. "0 3 * * *"',
    },
    {
      name: "an unknown time zone",
      args: () => ["schedule", "add", "0 3 * * *", "--tz", "Europe/Berlim", "--account", "acme", "import", url],
      exit: 1,
      code: "BULKRUN_ERR_SCHEDULE",
      message: "unknown time zone `Europe/Berlim`; did you mean `Europe/Berlin`? (use an IANA name such as Europe/Berlin or UTC)",
    },
    {
      name: "a cron expression without quotes",
      args: () => ["schedule", "add", "0", "3", "*", "*", "*", "--account", "acme", "import", url],
      exit: 2,
      code: "BULKRUN_ERR_USAGE",
      message:
        'put the cron expression in quotes, then give the action and its URL (usage: bulkrun schedule add "<cron>" --account <id|name> [--tz ZONE] [--catch-up none|latest] import <url> [--on-conflict update|skip] [--chunk-size N])',
    },
    {
      name: "a local file as a schedule's source",
      args: () => ["schedule", "add", "0 3 * * *", "--account", "acme", "import", "users.csv"],
      exit: 2,
      code: "BULKRUN_ERR_USAGE",
      message: "a schedule imports from an http(s) URL, fetched at every tick (got `users.csv`); import a local file once with `bulkrun import`",
    },
    {
      name: "a misspelt action",
      args: () => ["schedule", "add", "0 3 * * *", "--account", "acme", "imprt", url],
      exit: 2,
      code: "BULKRUN_ERR_USAGE",
      message: "a schedule can run `import`, not `imprt`; did you mean `import`?",
    },
    {
      name: "an unknown catch-up policy",
      args: () => ["schedule", "add", "0 3 * * *", "--account", "acme", "--catch-up", "all", "import", url],
      exit: 2,
      code: "BULKRUN_ERR_USAGE",
      message: "--catch-up must be none or latest (got `all`)",
    },
    {
      name: "import --at without a time zone",
      args: () => ["import", csv, "--account", "acme", "--at", "2030-01-31T09:00"],
      exit: 2,
      code: "BULKRUN_ERR_USAGE",
      message: "--at `2030-01-31T09:00` has no time zone; add Z for UTC or an offset such as +01:00",
    },
    {
      name: "import --at in the past",
      args: () => ["import", csv, "--account", "acme", "--at", "2020-01-31T09:00:00Z"],
      exit: 2,
      code: "BULKRUN_ERR_USAGE",
      message: "--at `2020-01-31T09:00:00Z` is in the past; give a time in the future",
    },
    {
      name: "import --at that is no time at all",
      args: () => ["import", csv, "--account", "acme", "--at", "tomorrow"],
      exit: 2,
      code: "BULKRUN_ERR_USAGE",
      message: "--at must be an ISO 8601 time with a zone, such as 2030-01-31T09:00:00Z or 2030-01-31T10:00:00+01:00 (got `tomorrow`)",
    },
    {
      name: "reschedule --at without a time zone",
      args: () => ["reschedule", "1", "--at", "2030-01-31 09:00"],
      exit: 2,
      code: "BULKRUN_ERR_USAGE",
      message: "--at `2030-01-31 09:00` has no time zone; add Z for UTC or an offset such as +01:00",
    },
    {
      name: "reschedule without --at",
      args: () => ["reschedule", "1"],
      exit: 2,
      code: "BULKRUN_ERR_USAGE",
      message: "--at is required (usage: bulkrun reschedule <action-id> --at <time with zone, e.g. 2030-01-31T09:00:00Z>)",
    },
  ];

  let acme: { id: number };
  before(async () => {
    acme = await newAccount(ctx, "acme");
  });
  after(async () => {
    const { rows } = await ctx.db.knex.raw(
      "select (select count(*) from bulkrun.schedules where account_id = ?)::int as schedules, (select count(*) from bulkrun.bulk_actions where account_id = ?)::int as actions",
      [acme.id, acme.id],
    );
    assert.deepEqual(rows[0], { schedules: 0, actions: 0 });
  });

  for (const c of cases) {
    test(c.name, async () => {
      assertError(await bulkrun(...c.args()), c.exit, c.code, c.message);
    });
  }
});
