import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { finished, newAccount, submitCsv, users } from "../helpers/actions.ts";
import { lines, runCli } from "../helpers/cli.ts";
import { testRuntime, type TestRuntime } from "../helpers/runtime.ts";

let ctx: TestRuntime;
let dir: string;
let account: { id: number; name: string };

before(async () => {
  ctx = await testRuntime();
  await ctx.startWorker();
  dir = await mkdtemp(join(tmpdir(), "bulkrun-cli-actions-"));
  account = await newAccount(ctx, "acme");
  await finished(ctx, (await submitCsv(ctx, { accountId: account.id }, "email\na@old.example\nb@old.example\nc@new.example\n")).id);
});
after(async () => {
  await ctx.close();
  await rm(dir, { recursive: true, force: true });
});

const bulkrun = (...args: string[]) => runCli(args, { databaseUrl: ctx.url, timeoutMs: 60_000 });

async function statusOf(email: string): Promise<string | undefined> {
  const { rows } = await ctx.db.knex.raw("select status from bulkrun.users where email = ?", [email]);
  return rows[0]?.status;
}

describe("update, delete and control from the command line", () => {
  test("update --where --set changes the matching users; --dry-run first shows the plan and changes nothing", async () => {
    const where = JSON.stringify({ email: { endsWith: "@old.example" }, status: { eq: "active" } });
    const dry = await bulkrun("update", "--account", "acme", "--where", where, "--set", "status=inactive", "--dry-run", "--wait");
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /dry run \d+ completed in .*: 0 created, 2 updated.*apply this plan with `bulkrun run \d+`/);
    assert.equal(await statusOf("a@old.example"), "active");
    const id = /dry run (\d+) completed/.exec(dry.stdout)![1]!;
    const applied = await bulkrun("run", id, "--wait");
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, new RegExp(`applying the plan of dry run ${id} as action \\d+`));
    assert.deepEqual([await statusOf("a@old.example"), await statusOf("b@old.example"), await statusOf("c@new.example")], ["inactive", "inactive", "active"]);
  });

  test("update from a CSV keyed by id, and delete from a CSV of emails", async () => {
    const [a] = await users(ctx, account.id);
    const updates = join(dir, "updates.csv");
    await writeFile(updates, `id,name\n${a!.id},Ada\n`);
    const updated = await bulkrun("update", updates, "--account", "acme", "--key", "id", "--wait");
    assert.equal(updated.code, 0, updated.stderr);
    assert.match(lines(updated.stdout).at(-1)!, /completed in .*: 0 created, 1 updated/);
    const deletes = join(dir, "deletes.csv");
    await writeFile(deletes, "email\nc@new.example\nnobody@example.com\n");
    const deleted = await bulkrun("delete", deletes, "--account", "acme", "--wait");
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.match(lines(deleted.stdout).at(-1)!, /: 0 created, 0 updated, 1 deleted, 1 skipped, 0 failed/);
    assert.equal(await statusOf("c@new.example"), undefined);
  });

  test("bad input is one line with its code: a file and a filter at once, bad JSON, an unknown --set field", async () => {
    const both = await bulkrun("delete", "x.csv", "--account", "acme", "--where", "{}");
    assert.equal(both.code, 2);
    assert.match(both.stderr, /give one file, URL or --where filter .*\[BULKRUN_ERR_USAGE\]\n$/);
    const badJson = await bulkrun("delete", "--account", "acme", "--where", "{email:");
    assert.equal(badJson.code, 1);
    assert.match(badJson.stderr, /^bulkrun: --where is not valid JSON: .*\[BULKRUN_ERR_FILTER\]\n$/);
    const badSet = await bulkrun("update", "--account", "acme", "--where", '{"id":{"gt":0}}', "--set", "stauts=x");
    assert.equal(badSet.code, 1);
    assert.match(badSet.stderr, /option `set` cannot set `stauts`, did you mean `status`\?/);
  });

  test("pause, resume and cancel report what they did; a finished action cannot be paused", async () => {
    const done = await finished(ctx, (await submitCsv(ctx, { accountId: account.id }, "email\nz@example.com\n")).id);
    const paused = await bulkrun("pause", String(done.id));
    assert.equal(paused.code, 1);
    assert.equal(paused.stderr, `bulkrun: bulk action ${done.id} is completed, it cannot become paused [BULKRUN_ERR_INVALID_TRANSITION]\n`);
    const unknown = await bulkrun("cancel", "999999");
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /BULKRUN_ERR_UNKNOWN_ACTION/);
  });
});
