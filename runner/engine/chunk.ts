import type { Knex } from "knex";
import { ENGINE_OUTCOMES, type AnyAction, type OutcomeKind, type RowOutcome } from "../plugin.ts";
import { findAction } from "./actions.ts";
import type { EngineContext } from "./context.ts";
import { finishIfDone } from "./finalize.ts";
import { emptyCounts, writeLedger, type LedgerEntry } from "./ledger.ts";
import { validateOptions } from "./options.ts";
import { pluginFor } from "./prepare.ts";
import { STAGED_TABLE, stageChunk, type ChunkRange } from "./staged.ts";

/**
 * The chunk job. The plugin's writes, every row's ledger entry, the chunk's status and the
 * action's counters commit in one transaction; a chunk that already committed is a no-op, so
 * running its job again (a retry, a crash after commit, a hand-made duplicate) changes nothing.
 */
export async function runChunk(ctx: EngineContext, chunkId: number, worker: string, attempt: number): Promise<void> {
  const started = performance.now();
  let pluginMs = 0;
  const committed = await ctx.db.knex.transaction(async (trx) => {
    const chunk = await claimChunk(trx, chunkId, worker, attempt);
    if (!chunk) return undefined;
    const action = await findAction(trx, chunk.action_id);
    if (!action || action.status !== "running") return undefined;
    const plugin = pluginFor(ctx, action.type);
    const staged = await stageChunk(trx, chunk);
    const counts = emptyCounts();
    counts.processed = counts.skipped = staged.duplicates;
    if (staged.rows > 0) {
      const pluginStarted = performance.now();
      const outcomes = await plugin.processChunk({
        db: trx,
        accountId: action.account_id,
        actionId: action.id,
        options: validateOptions(plugin.name, plugin.options, action.options),
        staged: STAGED_TABLE,
      });
      pluginMs = performance.now() - pluginStarted;
      await writeLedger(trx, chunk, ledgerEntries(plugin, staged.rows, outcomes), counts);
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
}

/**
 * Locks the chunk row for this transaction, if it still waits to be applied. The attempt number
 * comes from the job: a failed attempt's own writes roll back with it.
 */
async function claimChunk(trx: Knex.Transaction, chunkId: number, worker: string, attempt: number): Promise<(ChunkRange & { id: number }) | undefined> {
  const { rows } = await trx.raw<{ rows: (ChunkRange & { id: number })[] }>(
    `update bulkrun.bulk_action_chunks set attempts = ?, started_at = now(), worker = ?
      where id = ? and status = 'pending' returning id, action_id, bucket_from, bucket_to`,
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
