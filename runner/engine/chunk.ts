import type { Knex } from "knex";
import { ENGINE_OUTCOMES, type AnyAction, type OutcomeKind, type RowOutcome } from "../plugin.ts";
import { findAction } from "./actions.ts";
import type { EngineContext } from "./context.ts";
import { finishIfDone } from "./finalize.ts";
import { emptyCounts, writeLedger, type LedgerEntry } from "./ledger.ts";
import { actionOptions } from "./options.ts";
import { pluginFor } from "./prepare.ts";
import { takeChunkTokens } from "./rate-limit.ts";
import { STAGED_TABLE, stageChunk, type ChunkRange } from "./staged.ts";

/** What became of a chunk job: applied (or nothing left to do), or to run again later. */
export type ChunkRun = { retryInSeconds: number } | undefined;

/**
 * The chunk job. The plugin's writes, every row's ledger entry, the chunk's status and the
 * action's counters commit in one transaction; a chunk that already committed is a no-op, so
 * running its job again (a retry, a crash after commit, a hand-made duplicate) changes nothing.
 * A chunk of a paused or cancelled action does nothing; one whose account is over its rate limit
 * asks to run again when the tokens are there.
 */
export async function runChunk(ctx: EngineContext, chunkId: number, worker: string, attempt: number): Promise<ChunkRun> {
  const waiting = await takeChunkTokens(ctx.db.knex, chunkId, ctx.config.rateLimitWindowMs);
  if (waiting > 0) return { retryInSeconds: waiting };
  const started = performance.now();
  let pluginMs = 0;
  const committed = await ctx.db.knex.transaction(async (trx) => {
    // The commit need not wait for its WAL flush: Graphile Worker marks the job done afterwards in
    // a synchronous commit, which flushes the WAL up to and past this one. A crash before that
    // loses both, and the job runs the (rolled back) chunk again.
    await trx.raw("set local synchronous_commit = off");
    const chunk = await claimChunk(trx, chunkId, worker, attempt);
    if (!chunk) return undefined;
    const action = await findAction(trx, chunk.action_id);
    if (!action || action.status !== "running") return undefined;
    const plugin = pluginFor(ctx, action.type);
    const staged = await stageChunk(trx, chunk);
    const counts = emptyCounts();
    if (staged > 0) {
      const pluginStarted = performance.now();
      const context = {
        db: trx,
        accountId: action.account_id,
        actionId: action.id,
        options: actionOptions(plugin, action.options),
        staged: STAGED_TABLE,
      };
      const outcomes = action.dry_run ? await evaluate(trx, () => plugin.processChunk(context)) : await plugin.processChunk(context);
      pluginMs = performance.now() - pluginStarted;
      await writeLedger(trx, chunk, ledgerEntries(plugin, staged, outcomes), counts);
    }
    await trx.raw(
      "update bulkrun.bulk_action_chunks set status = 'done', finished_at = now(), duration_ms = ? where id = ?",
      [Math.round(performance.now() - started), chunkId],
    );
    const status = await finishIfDone(trx, action.id, counts);
    return { actionId: action.id, rows: counts.processed, status };
  });
  if (!committed) return;
  ctx.events.emit("chunk:commit", {
    actionId: committed.actionId,
    chunkId,
    rows: committed.rows,
    durationMs: performance.now() - started,
    pluginMs,
  });
  if (committed.status) ctx.events.emit("action:finished", { actionId: committed.actionId, status: committed.status });
  return undefined;
}

/**
 * A dry run: the plugin's statements run for real inside a savepoint that is then rolled back,
 * so the outcomes are exactly what applying would report and nothing is written. Ids of rows that
 * were never kept mean nothing, so they are dropped.
 */
async function evaluate(trx: Knex.Transaction, apply: () => Promise<RowOutcome<string>[]>): Promise<RowOutcome<string>[]> {
  await trx.raw("savepoint bulkrun_dry_run");
  const outcomes = await apply();
  await trx.raw("rollback to savepoint bulkrun_dry_run");
  return outcomes.map(({ entityId: _, ...outcome }) => outcome);
}

/**
 * Locks the chunk row for this transaction, if it still waits to be applied. The attempt number
 * comes from the job: a failed attempt's own writes roll back with it.
 */
async function claimChunk(trx: Knex.Transaction, chunkId: number, worker: string, attempt: number): Promise<(ChunkRange & { id: number }) | undefined> {
  const { rows } = await trx.raw<{ rows: (ChunkRange & { id: number })[] }>(
    `update bulkrun.bulk_action_chunks set attempts = ?, started_at = now(), worker = ?
      where id = ? and status = 'pending' returning id, action_id, row_from, row_to`,
    [attempt, worker, chunkId],
  );
  return rows[0];
}

/** Checks the plugin's outcomes: every staged row exactly once, each a declared outcome. */
function ledgerEntries(plugin: AnyAction, stagedRows: number, outcomes: RowOutcome<string>[]): LedgerEntry[] {
  const seen = new Set<number>();
  const entries = outcomes.map((outcome): LedgerEntry => {
    if (seen.has(outcome.row)) throw new Error(`${plugin.name} reported row ${outcome.row} twice; it must report each row once`);
    seen.add(outcome.row);
    const kind: OutcomeKind | undefined = plugin.outcomes[outcome.outcome] ?? ENGINE_OUTCOMES[outcome.outcome as keyof typeof ENGINE_OUTCOMES];
    if (!kind) throw new Error(`${plugin.name} reported outcome \`${outcome.outcome}\`, which it does not declare`);
    return {
      row: outcome.row,
      kind,
      outcome: outcome.outcome,
      error: outcome.error ?? null,
      entityId: outcome.entityId === undefined ? null : Number(outcome.entityId),
    };
  });
  if (entries.length !== stagedRows) {
    throw new Error(`${plugin.name} reported ${entries.length} outcomes for ${stagedRows} rows; it must report each row once`);
  }
  return entries;
}
