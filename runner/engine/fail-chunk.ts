import type { EngineContext } from "./context.ts";
import { finishIfDone } from "./finalize.ts";

/**
 * A chunk that failed on its last attempt: its rows get a `chunk_failed` ledger entry with the
 * error, so the action can still finish (as failed) and `retry` can pick those rows up. Returns
 * false if the chunk was no longer pending (applied or failed already).
 */
export async function failChunk(ctx: EngineContext, chunkId: number, error: Error, attempts: number): Promise<boolean> {
  const message = `chunk ${chunkId} failed on every attempt: ${error.message}`;
  const finished = await ctx.db.knex.transaction(async (trx) => {
    const { rows } = await trx.raw<{ rows: { action_id: number; row_from: number; row_to: number }[] }>(
      `update bulkrun.bulk_action_chunks set status = 'failed', error = ?, attempts = ?, finished_at = now()
        where id = ? and status = 'pending' returning action_id, row_from, row_to`,
      [message, attempts, chunkId],
    );
    const chunk = rows[0];
    if (!chunk) return undefined;
    const marked = await trx.raw<{ rowCount: number }>(
      `update bulkrun.bulk_action_items set status = 'failed', outcome = 'chunk_failed', error = ?
        where action_id = ? and row_number between ? and ? and status = 'pending'`,
      [message, chunk.action_id, chunk.row_from, chunk.row_to],
    );
    const failed = marked.rowCount;
    const status = await finishIfDone(trx, chunk.action_id, {
      processed: failed, created: 0, updated: 0, deleted: 0, skipped: 0, failed,
    });
    return { actionId: chunk.action_id, status };
  });
  if (!finished) return false;
  ctx.events.emit("chunk:failed", { actionId: finished.actionId, chunkId, error: message });
  if (finished.status) ctx.events.emit("action:finished", { actionId: finished.actionId, status: finished.status });
  return true;
}
