import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import usersImport from "../../plugins/users-import/index.ts";
import { resolveConfig } from "../../runner/config.ts";
import { parseDuration } from "../../runner/duration.ts";
import type { ActionStatus } from "../../runner/engine/actions.ts";
import { controlAction } from "../../runner/engine/control.ts";
import { pruneLedgers, type PruneOptions, type PruneTotals } from "../../runner/engine/prune.ts";
import { newAccount } from "../helpers/actions.ts";
import { until } from "../helpers/until.ts";
import { testRuntime, type TestRuntime } from "../helpers/runtime.ts";

let ctx: TestRuntime;

before(async () => {
  ctx = await testRuntime();
});
after(() => ctx.close());

const DAY = 86_400_000;

interface Fake {
  status: ActionStatus;
  /** How long ago it finished, as a Postgres interval; null: never. */
  finishedAgo: string | null;
  /** The status of each ledger row, in row order. */
  rows?: string[];
  chunks?: number;
  dryRun?: boolean;
}

/** An action as the engine leaves it, written directly: its ledger, its chunks, its counters. */
async function fakeAction(accountId: number, fake: Fake): Promise<number> {
  const rows = fake.rows ?? [];
  const failed = rows.filter((s) => s === "failed").length;
  const { rows: inserted } = await ctx.db.knex.raw<{ rows: { id: number }[] }>(
    `insert into bulkrun.bulk_actions (account_id, type, status, source, dry_run, total, processed, created, failed, finished_at)
     values (?, 'users.import', ?, '{"kind": "staged"}', ?, ?, ?, ?, ?, now() - ?::interval) returning id`,
    [accountId, fake.status, fake.dryRun ?? false, rows.length, rows.length, rows.length - failed, failed, fake.finishedAgo],
  );
  const id = inserted[0]!.id;
  await ctx.db.knex.raw(
    `insert into bulkrun.bulk_action_items (action_id, row_number, key, data, status, outcome)
     select ?, n, 'k' || n, '{}', s, case s when 'failed' then 'error' when 'succeeded' then 'created' end
       from unnest(?::text[]) with ordinality as r(s, n)`,
    [id, rows],
  );
  await ctx.db.knex.raw(
    "insert into bulkrun.bulk_action_chunks (action_id, seq, row_from, row_to, rows, status) select ?, g, g, g, 1, 'done' from generate_series(1, ?) g",
    [id, fake.chunks ?? 0],
  );
  return id;
}

/** What is left of an action: its ledger by status, its chunks, and the action row. */
async function left(id: number) {
  const { rows } = await ctx.db.knex.raw(
    `select a.ledger_state, a.ledger_pruned_at, a.updated_at, a.created, a.failed,
            (select coalesce(jsonb_object_agg(status, n), '{}') from
               (select status, count(*)::int as n from bulkrun.bulk_action_items where action_id = a.id group by status) s) as rows,
            (select count(*)::int from bulkrun.bulk_action_chunks where action_id = a.id) as chunks
       from bulkrun.bulk_actions a where a.id = ?`,
    [id],
  );
  return rows[0] as { ledger_state: string; ledger_pruned_at: Date | null; updated_at: Date; created: number; failed: number; rows: Record<string, number>; chunks: number };
}

/** State, rows by status and chunks left. */
function pick(l: Awaited<ReturnType<typeof left>>) {
  return [l.ledger_state, l.rows, l.chunks];
}

function prune(options: Partial<PruneOptions> & { accountId: number }) {
  return pruneLedgers(ctx.db, { olderThanMs: DAY, keepFailed: false, batchSize: 1000, ifBusy: "wait", ...options });
}

const MIXED = ["succeeded", "failed", "skipped", "succeeded", "failed", "pending"];

describe("retention settings", () => {
  test("default to 30 days, failed rows not kept, hourly, 5000 rows a batch; take the environment; are validated", () => {
    const defaults = resolveConfig({ plugins: [usersImport] }).retention;
    assert.deepEqual({ ...defaults }, { olderThan: "30d", olderThanMs: 30 * DAY, keepFailed: false, intervalMs: 3_600_000, batchSize: 5000 });
    const env = resolveConfig(
      { plugins: [usersImport], retention: { olderThan: "90d" } },
      { BULKRUN_RETENTION_OLDER_THAN: "12h", BULKRUN_RETENTION_KEEP_FAILED: "true", BULKRUN_RETENTION_INTERVAL_MS: "200", BULKRUN_RETENTION_BATCH_SIZE: "3" },
    ).retention;
    assert.deepEqual({ ...env }, { olderThan: "12h", olderThanMs: 12 * 3_600_000, keepFailed: true, intervalMs: 200, batchSize: 3 });
    assert.equal(resolveConfig({ plugins: [usersImport], retention: { olderThan: null } }).retention.olderThanMs, null);
    assert.equal(resolveConfig({ plugins: [usersImport] }, { BULKRUN_RETENTION_OLDER_THAN: "off" }).retention.olderThan, null);
    assert.throws(() => resolveConfig({ plugins: [usersImport] }, { BULKRUN_RETENTION_OLDER_THAN: "7 days" }), {
      code: "BULKRUN_ERR_CONFIG",
      message: 'retention.olderThan (BULKRUN_RETENTION_OLDER_THAN) must be a duration such as 30m, 12h or 7d, or null (`off`) to keep every ledger (got "7 days")',
    });
    assert.throws(() => resolveConfig({ plugins: [usersImport] }, { BULKRUN_RETENTION_KEEP_FAILED: "yes" }), {
      code: "BULKRUN_ERR_CONFIG",
      message: 'retention.keepFailed (BULKRUN_RETENTION_KEEP_FAILED) must be true or false (got "yes")',
    });
  });

  test("durations are a whole number and a unit; zero, fractions, and other units are not", () => {
    assert.deepEqual(["45s", "30m", "12h", "7d", "2w", " 7d "].map(parseDuration), [45_000, 1_800_000, 43_200_000, 7 * DAY, 14 * DAY, 7 * DAY]);
    assert.deepEqual(["0d", "1.5h", "7", "d", "7days", "7 d", "-1d", "7D", "99999999999999w"].map(parseDuration), Array(9).fill(undefined));
  });
});

describe("pruning", () => {
  test("removes the ledger and chunks of actions finished before the cutoff; keeps recent and unfinished ones and every action row", async () => {
    const account = await newAccount(ctx);
    const old = await Promise.all(
      (["completed", "failed", "cancelled"] as const).map((status) => fakeAction(account.id, { status, finishedAgo: "3 days", rows: MIXED, chunks: 2 })),
    );
    const recent = await fakeAction(account.id, { status: "completed", finishedAgo: "1 hour", rows: MIXED, chunks: 2 });
    // Whatever their finished_at says, actions still under way keep everything.
    const unfinished = await Promise.all(
      (["running", "paused", "queued", "scheduled", "preparing"] as const).map((status) =>
        fakeAction(account.id, { status, finishedAgo: "3 days", rows: MIXED, chunks: 2 }),
      ),
    );
    const before = await left(old[0]!);

    const result = await prune({ accountId: account.id });
    assert.deepEqual([result!.actions, result!.rows, result!.chunks], [3, 18, 6]);
    assert.ok(Math.abs(result!.before.getTime() - (Date.now() - DAY)) < 60_000);
    for (const id of old) {
      const now = await left(id);
      assert.deepEqual([now.ledger_state, now.rows, now.chunks, now.created, now.failed], ["pruned", {}, 0, 4, 2]);
      assert.ok(now.ledger_pruned_at, "records when");
    }
    // Retention is not a change of the action: the dashboard's "changed last" order stays.
    assert.deepEqual((await left(old[0]!)).updated_at, before.updated_at);
    for (const id of [recent, ...unfinished]) {
      const kept = await left(id);
      assert.deepEqual([kept.ledger_state, kept.ledger_pruned_at, kept.rows, kept.chunks], ["complete", null, { succeeded: 2, failed: 2, skipped: 1, pending: 1 }, 2]);
    }
    assert.deepEqual((await prune({ accountId: account.id }))!.actions, 0, "a second prune finds nothing left");
  });

  test("only the given account's actions", async () => {
    const [mine, theirs] = [await newAccount(ctx), await newAccount(ctx)];
    const a = await fakeAction(mine.id, { status: "completed", finishedAgo: "3 days", rows: MIXED });
    const b = await fakeAction(theirs.id, { status: "completed", finishedAgo: "3 days", rows: MIXED });
    assert.equal((await prune({ accountId: mine.id }))!.actions, 1);
    assert.deepEqual([(await left(a)).ledger_state, (await left(b)).ledger_state], ["pruned", "complete"]);
  });

  test("keepFailed keeps the failed rows; a later prune without it removes them too", async () => {
    const account = await newAccount(ctx);
    const id = await fakeAction(account.id, { status: "completed", finishedAgo: "3 days", rows: MIXED, chunks: 3 });
    const kept = await prune({ accountId: account.id, keepFailed: true });
    assert.deepEqual([kept!.actions, kept!.rows, kept!.chunks], [1, 4, 3]);
    assert.deepEqual(pick(await left(id)), ["failed_only", { failed: 2 }, 0]);
    assert.equal((await prune({ accountId: account.id, keepFailed: true }))!.actions, 0, "nothing more to do while failed rows are kept");
    const all = await prune({ accountId: account.id });
    assert.deepEqual([all!.actions, all!.rows], [1, 2]);
    assert.deepEqual(pick(await left(id)), ["pruned", {}, 0]);
  });

  test("goes in batches, each committed on its own; stopped midway, the next prune finishes the action", async () => {
    const account = await newAccount(ctx);
    const id = await fakeAction(account.id, { status: "completed", finishedAgo: "3 days", rows: Array(10).fill("succeeded"), chunks: 4 });
    const stop = new AbortController();
    const seen: unknown[] = [];
    const stopped = await prune({
      accountId: account.id,
      batchSize: 3,
      signal: stop.signal,
      onProgress: async (progress) => {
        // Another connection sees each batch gone at once: it was committed by itself.
        seen.push(pick(await left(id)));
        if (progress.batches === 2) stop.abort();
      },
    });
    assert.deepEqual([stopped!.rows, stopped!.batches], [6, 2]);
    assert.deepEqual(seen, [["pruning", { succeeded: 7 }, 4], ["pruning", { succeeded: 4 }, 4]]);
    assert.deepEqual(pick(await left(id)), ["pruning", { succeeded: 4 }, 4]);

    const progress: PruneTotals[] = [];
    const rest = await prune({
      accountId: account.id,
      batchSize: 3,
      onProgress: (p) => {
        progress.push(p);
      },
    });
    // 4 rows in batches of 3, then 4 chunks in batches of 3.
    assert.deepEqual([rest!.actions, rest!.rows, rest!.chunks, rest!.batches], [1, 4, 4, 4]);
    assert.deepEqual(progress.map((p) => [p.rows, p.chunks]), [[3, 0], [4, 0], [4, 3], [4, 4]]);
    assert.deepEqual(pick(await left(id)), ["pruned", {}, 0]);
  });

  test("one process prunes at a time: a runner's round skips while another prunes, the CLI's waits", async () => {
    const account = await newAccount(ctx);
    const id = await fakeAction(account.id, { status: "completed", finishedAgo: "3 days", rows: Array(4).fill("succeeded") });
    const log: string[] = [];
    let skipped: unknown = "not run";
    let waiting: ReturnType<typeof prune> | undefined;
    const first = await prune({
      accountId: account.id,
      batchSize: 1,
      onProgress: async (p) => {
        if (p.batches !== 1) return;
        skipped = await prune({ accountId: account.id, ifBusy: "skip" });
        waiting = prune({ accountId: account.id, log: (line) => log.push(line) });
        await until("the second prune waiting for the lock", async () => {
          const { rows } = await ctx.db.knex.raw(
            `select count(*)::int as n from pg_locks
              where locktype = 'advisory' and not granted and database = (select oid from pg_database where datname = current_database())`,
          );
          return rows[0].n === 1;
        });
      },
    });
    assert.deepEqual([first!.actions, first!.rows], [1, 4]);
    assert.equal(skipped, undefined);
    // Had it not waited, it would have taken up the action being pruned.
    assert.equal((await waiting)!.actions, 0);
    assert.deepEqual(log, ["another bulkrun process is pruning ledgers; waiting for it to finish"]);
    assert.equal((await left(id)).ledger_state, "pruned");
  });
});

describe("follow-ups and pruned ledgers", () => {
  test("an action whose retry has not finished keeps its ledger; a pruned one cannot be retried", async () => {
    const account = await newAccount(ctx);
    const parent = await fakeAction(account.id, { status: "completed", finishedAgo: "3 days", rows: MIXED });
    const child = await controlAction(ctx.db.knex, "retry", parent);
    assert.equal((await prune({ accountId: account.id }))!.actions, 0);
    assert.deepEqual((await left(parent)).rows, { succeeded: 2, failed: 2, skipped: 1, pending: 1 });

    await controlAction(ctx.db.knex, "cancel", child.id);
    assert.equal((await prune({ accountId: account.id }))!.actions, 1);
    const { ledger_pruned_at } = await left(parent);
    await assert.rejects(controlAction(ctx.db.knex, "retry", parent), {
      code: "BULKRUN_ERR_LEDGER_PRUNED",
      message: `the ledger of bulk action ${parent} was pruned by ledger retention at ${ledger_pruned_at!.toISOString()}: its failed rows are gone; its counts remain`,
    });
  });

  test("with its failed rows kept, an action can still be retried, but a dry run's plan cannot be applied", async () => {
    const account = await newAccount(ctx);
    const parent = await fakeAction(account.id, { status: "failed", finishedAgo: "3 days", rows: MIXED });
    const dryRun = await fakeAction(account.id, { status: "completed", finishedAgo: "3 days", rows: MIXED, dryRun: true });
    assert.equal((await prune({ accountId: account.id, keepFailed: true }))!.actions, 2);
    const child = await controlAction(ctx.db.knex, "retry", parent);
    assert.equal(child.parent_id, parent);
    await assert.rejects(controlAction(ctx.db.knex, "apply", dryRun), {
      code: "BULKRUN_ERR_LEDGER_PRUNED",
      message: new RegExp(`^the ledger of bulk action ${dryRun} was pruned by ledger retention at \\S+Z: the plan to apply is gone; its counts remain$`),
    });
  });
});
