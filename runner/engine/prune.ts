import type pg from "pg";
import type { Database } from "../db/database.ts";
import { FINAL_STATUSES, type LedgerState } from "./actions.ts";

export interface PruneOptions {
  /** Actions that finished longer ago than this, in ms, lose their ledger. */
  olderThanMs: number;
  /** Keep the failed rows: what `bulkrun logs --status failed` and `bulkrun retry` read. */
  keepFailed: boolean;
  /** Only this account's actions. */
  accountId?: number;
  /** Ledger rows (or chunks) removed per statement. */
  batchSize: number;
  /** When another process is pruning: wait for it to finish (the CLI), or skip this round (a runner's timer). */
  ifBusy: "wait" | "skip";
  /** Ends the prune between two batches. */
  signal?: AbortSignal;
  /** Called after every batch with the totals so far; the next batch waits for what it returns. */
  onProgress?: (totals: PruneTotals) => void | Promise<void>;
  log?: (line: string) => void;
}

export interface PruneTotals {
  /** Actions whose ledger was pruned (or begun). */
  actions: number;
  /** Ledger rows removed. */
  rows: number;
  chunks: number;
  /** Delete statements that removed something. */
  batches: number;
}

export interface PruneResult extends PruneTotals {
  /** Actions that finished before this instant were pruned. */
  before: Date;
}

// Any constant will do; every bulkrun process that prunes takes the same lock (migrate.ts has 7_311_042).
const PRUNE_LOCK = 7_311_044;
/**
 * An action whose ledger retention prunes: finished (a status in $1) before $2, with ledger rows
 * left to remove ($3: failed rows are kept). The prune picks its candidates with it and checks
 * each again under the action's row lock.
 */
const PRUNABLE = "status = any($1) and finished_at < $2 and ledger_state <> 'pruned' and not (ledger_state = 'failed_only' and $3)";
// Row numbers are Postgres integers: this is below every one of them.
const BEFORE_FIRST_ROW = -2_147_483_648;

/**
 * Ledger retention: removes the per-row ledger (`bulk_action_items`) and the chunks of actions
 * that finished before `olderThanMs` ago. The action rows stay, counters and all; `ledger_state`
 * says what is left, so that `bulkrun logs` and retries say "pruned" instead of finding nothing.
 *
 * Rows go in batches of `batchSize`, in primary key order within one action, each batch its own
 * statement and transaction: row locks last one batch, and fall only on rows of finished actions
 * that nothing else writes, so running actions are never held up. A prune that stops midway (a
 * runner stopping, a lost connection) leaves the action `pruning`; the next one finishes it.
 * One process prunes at a time (an advisory lock). Resolves undefined when another was pruning
 * and `ifBusy` is "skip".
 */
export async function pruneLedgers(db: Database, options: PruneOptions): Promise<PruneResult | undefined> {
  const client = await db.pool.connect();
  let clean = false;
  try {
    const { rows } = await client.query<{ locked: boolean }>("select pg_try_advisory_lock($1) as locked", [PRUNE_LOCK]);
    if (!rows[0]!.locked) {
      if (options.ifBusy === "skip") {
        clean = true;
        return undefined;
      }
      options.log?.("another bulkrun process is pruning ledgers; waiting for it to finish");
      await client.query("select pg_advisory_lock($1)", [PRUNE_LOCK]);
    }
    const result = await prune(client, options);
    await client.query("select pg_advisory_unlock($1)", [PRUNE_LOCK]);
    clean = true;
    return result;
  } finally {
    // A connection that failed midway may still hold the lock: closing it is the sure release.
    client.release(!clean);
  }
}

async function prune(client: pg.PoolClient, options: PruneOptions): Promise<PruneResult> {
  const { rows } = await client.query<{ before: Date }>("select now() - make_interval(secs => $1) as before", [options.olderThanMs / 1000]);
  const before = rows[0]!.before;
  const totals: PruneTotals = { actions: 0, rows: 0, chunks: 0, batches: 0 };
  const { rows: candidates } = await client.query<{ id: number }>(
    `select id from bulkrun.bulk_actions where ${PRUNABLE} and ($4::bigint is null or account_id = $4) order by id`,
    [FINAL_STATUSES, before, options.keepFailed, options.accountId ?? null],
  );
  for (const { id } of candidates) {
    if (options.signal?.aborted) break;
    const state = await claim(client, id, before, options.keepFailed);
    if (!state) continue;
    totals.actions++;
    const done = await removeRows(client, id, state === "pruning_keep_failed", totals, options);
    if (!done) break;
    await client.query("update bulkrun.bulk_actions set ledger_state = $2 where id = $1 and ledger_state = $3", [
      id,
      state === "pruning" ? "pruned" : "failed_only",
      state,
    ]);
  }
  return { ...totals, before };
}

/**
 * Marks the action as being pruned, under its row lock, and returns how (keeping failed rows or
 * not); undefined when it must stay: it no longer qualifies, or a follow-up (retry, applied dry
 * run) that copies rows from its ledger has not finished. `bulkrun_private.follow_up` holds the
 * parent's row (for share) while it inserts the child: once this lock is granted, the check below
 * (a statement of its own, so with a fresh snapshot) sees that child.
 */
async function claim(client: pg.PoolClient, id: number, before: Date, keepFailed: boolean): Promise<LedgerState | undefined> {
  await client.query("begin");
  try {
    const { rows } = await client.query<{ ledger_state: LedgerState }>(
      `select ledger_state from bulkrun.bulk_actions where id = $4 and ${PRUNABLE} for no key update`,
      [FINAL_STATUSES, before, keepFailed, id],
    );
    const current = rows[0]?.ledger_state;
    const { rowCount: followUps } = await client.query(
      "select 1 from bulkrun.bulk_actions where parent_id = $1 and status <> all($2) limit 1",
      [id, FINAL_STATUSES],
    );
    // A prune that already removed failed rows (`pruning`) finishes as it began.
    const state: LedgerState | undefined =
      current === undefined || followUps ? undefined : current === "pruning" || !keepFailed ? "pruning" : "pruning_keep_failed";
    if (state) await client.query("update bulkrun.bulk_actions set ledger_state = $2, ledger_pruned_at = now() where id = $1", [id, state]);
    await client.query("commit");
    return state;
  } catch (error) {
    await client.query("rollback").catch(() => {});
    throw error;
  }
}

/** Removes the action's ledger rows, then its chunks, batch by batch; false when stopped midway. */
async function removeRows(client: pg.PoolClient, id: number, keepFailed: boolean, totals: PruneTotals, options: PruneOptions): Promise<boolean> {
  let after = BEFORE_FIRST_ROW;
  for (;;) {
    if (options.signal?.aborted) return false;
    const { rows } = await client.query<{ n: number; last: number | null }>(
      `with batch as (
         select row_number from bulkrun.bulk_action_items
          where action_id = $1 and row_number > $2 and not ($3 and status = 'failed')
          order by row_number limit $4
       ), gone as (
         delete from bulkrun.bulk_action_items i using batch
          where i.action_id = $1 and i.row_number = batch.row_number
         returning i.row_number
       )
       select count(*)::int as n, max(row_number) as last from gone`,
      [id, after, keepFailed, options.batchSize],
    );
    const { n, last } = rows[0]!;
    if (n === 0) break;
    after = last!;
    totals.rows += n;
    totals.batches++;
    await options.onProgress?.({ ...totals });
  }
  for (;;) {
    if (options.signal?.aborted) return false;
    const { rowCount } = await client.query(
      `delete from bulkrun.bulk_action_chunks
        where id in (select id from bulkrun.bulk_action_chunks where action_id = $1 order by id limit $2)`,
      [id, options.batchSize],
    );
    if (!rowCount) return true;
    totals.chunks += rowCount;
    totals.batches++;
    await options.onProgress?.({ ...totals });
  }
}
