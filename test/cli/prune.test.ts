import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { finished, newAccount, submitCsv } from "../helpers/actions.ts";
import { lines, runCli, startCli, type CliResult } from "../helpers/cli.ts";
import { testRuntime, type TestRuntime } from "../helpers/runtime.ts";
import { until } from "../helpers/until.ts";

let ctx: TestRuntime;

before(async () => {
  ctx = await testRuntime();
  await ctx.startWorker();
});
after(() => ctx.close());

function bulkrun(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(args, { databaseUrl: ctx.url, env });
}

function assertError(result: CliResult, exit: number, code: string, message: string): void {
  assert.equal(result.stderr, `bulkrun: ${message} [${code}]\n`);
  assert.equal(result.code, exit);
  assert.equal(result.stdout, "");
}

const ISO = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z";

let imports = 0;

/** A finished import of five new users, one row invalid, in two chunks; finished `ago` (a Postgres interval) if given. */
async function oldImport(accountId: number, ago?: string): Promise<number> {
  const n = ++imports;
  const csv = `email\na${n}@example.com\nb${n}@example.com\nnot-an-email\nc${n}@example.com\nd${n}@example.com\n`;
  const done = await finished(ctx, (await submitCsv(ctx, { accountId, chunkSize: 2 }, csv)).id);
  assert.deepEqual([done.status, done.created, done.failed], ["completed", 4, 1]);
  if (ago) await ctx.db.knex.raw("update bulkrun.bulk_actions set finished_at = now() - ?::interval where id = ?", [ago, done.id]);
  return done.id;
}

async function ledgerState(id: number): Promise<{ ledger_state: string; ledger_pruned_at: Date | null; rows: number }> {
  const { rows } = await ctx.db.knex.raw(
    "select ledger_state, ledger_pruned_at, (select count(*)::int from bulkrun.bulk_action_items where action_id = a.id) as rows from bulkrun.bulk_actions a where id = ?",
    [id],
  );
  return rows[0];
}

describe("bulkrun prune", () => {
  test("prunes old finished actions in batches and says what it removed; logs and status then say the ledger was pruned", async () => {
    const account = await newAccount(ctx);
    const old = await oldImport(account.id, "8 days");
    const recent = await oldImport(account.id);

    const kept = await bulkrun(["prune", "--older-than", "7d", "--keep-failed", "--account", account.name], { BULKRUN_RETENTION_BATCH_SIZE: "3" });
    assert.equal(kept.code, 0, kept.stderr);
    assert.match(
      kept.stdout,
      new RegExp(`^pruned the ledgers of 1 action that finished before ${ISO}: 4 rows and 2 chunks removed in 3 batches; failed rows kept\\n$`),
    );
    const prunedAt = (await ledgerState(old)).ledger_pruned_at!.toISOString();

    assertError(
      await bulkrun(["logs", String(old)]),
      1,
      "BULKRUN_ERR_LEDGER_PRUNED",
      `the ledger of action ${old} was pruned by ledger retention at ${prunedAt}, its failed rows kept: ` +
        `\`bulkrun logs ${old} --status failed\` exports those; its counts remain in \`bulkrun status ${old}\``,
    );
    const failed = await bulkrun(["logs", String(old), "--status", "failed"]);
    assert.deepEqual([failed.code, lines(failed.stdout)], [0, ["row,status,outcome,error,entity_id,email,name,phone", "3,failed,invalid,email `not-an-email` is not an email address,,not-an-email,,"]]);
    const status = await bulkrun(["status", String(old)]);
    assert.match(status.stdout, new RegExp(`^action ${old} completed in .*: 4 created, 0 updated, 0 deleted, 0 skipped, 1 failed \\(5 rows`));
    assert.match(status.stdout, new RegExp(`^ledger: pruned by ledger retention at ${prunedAt}, its failed rows kept$`, "m"));
    const whole = await bulkrun(["logs", String(recent)]);
    assert.equal(lines(whole.stdout).length, 6, "the recent action's ledger is whole");

    const all = await bulkrun(["prune", "--older-than", "7d"]);
    assert.match(all.stdout, new RegExp(`^pruned the ledgers of 1 action that finished before ${ISO}: 1 row and 0 chunks removed in 1 batch\\n$`));
    const gone = await bulkrun(["logs", String(old), "--status", "failed"]);
    assert.match(gone.stderr, new RegExp(`^bulkrun: the ledger of action ${old} was pruned by ledger retention at ${ISO}: its rows are gone; its counts remain`));
    assert.equal(gone.stdout, "");
    const again = await bulkrun(["prune", "--older-than", "7d"]);
    assert.match(again.stdout, new RegExp(`^nothing to prune among the actions that finished before ${ISO}\\n$`));
    assert.deepEqual(await ledgerState(recent), { ledger_state: "complete", ledger_pruned_at: null, rows: 5 });
  });

  test("a bad duration is one line with examples; --older-than is required; an unknown account is named", async () => {
    const [bad, missing, account] = await Promise.all([
      bulkrun(["prune", "--older-than", "7days"]),
      bulkrun(["prune", "--keep-failed"]),
      bulkrun(["prune", "--older-than", "7d", "--account", "nobody"]),
    ]);
    assertError(bad, 2, "BULKRUN_ERR_USAGE", "--older-than must be a duration such as 30m, 12h or 7d: a whole number and s, m, h, d or w (got `7days`)");
    assertError(
      missing,
      2,
      "BULKRUN_ERR_USAGE",
      "--older-than is required, e.g. --older-than 7d (usage: bulkrun prune --older-than <duration> [--keep-failed] [--account <id|name>])",
    );
    assert.match(account.stderr, /^bulkrun: there is no account named `nobody`; .* \[BULKRUN_ERR_UNKNOWN_ACCOUNT\]\n$/);
  });
});

describe("retention in the runner", () => {
  test("a runner prunes the ledgers of old actions on its timer, and leaves recent ones", async () => {
    const account = await newAccount(ctx);
    const [first, second, recent] = [await oldImport(account.id), await oldImport(account.id), await oldImport(account.id)];
    const runner = startCli(["worker"], {
      databaseUrl: ctx.url,
      env: { BULKRUN_RETENTION_OLDER_THAN: "1h", BULKRUN_RETENTION_INTERVAL_MS: "200" },
    });
    try {
      await runner.stderrMatches(/bulkrun worker running/);
      // One action ages while the runner runs, then another: each is pruned by a later round of the timer.
      for (const id of [first, second]) {
        await ctx.db.knex.raw("update bulkrun.bulk_actions set finished_at = now() - interval '2 hours' where id = ?", [id]);
        await until("the ledger pruned", async () => (await ledgerState(id)).ledger_state === "pruned");
        assert.equal((await ledgerState(id)).rows, 0);
      }
      runner.child.kill("SIGTERM");
      const result = await runner.result;
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, new RegExp(`ledger retention \\(1h\\): pruned the ledgers of 1 action that finished before ${ISO}: 5 rows and 2 chunks removed`));
      assert.deepEqual(await ledgerState(recent), { ledger_state: "complete", ledger_pruned_at: null, rows: 5 });
    } finally {
      runner.child.kill("SIGKILL");
    }
  });
});
