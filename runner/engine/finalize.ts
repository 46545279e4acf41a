import type { Knex } from "knex";
import type { ActionStatus } from "./actions.ts";
import type { Counts } from "./ledger.ts";

/** A chunk applied in this transaction, to be marked done; its time so far, in ms. */
export interface AppliedChunk {
  id: number;
  durationMs: number;
}

/**
 * Adds a chunk's counts to its action and, when that was the last row of a running action, ends
 * it: failed if any chunk failed, completed otherwise. (A chunk that was running when its action
 * was paused or cancelled still commits; a cancelled action stays cancelled.) Runs last in the
 * chunk's transaction, so the action row is locked only briefly and concurrent chunks see each
 * other's committed counters.
 */
export async function finishIfDone(
  trx: Knex.Transaction,
  actionId: number,
  counts: Counts,
  applied?: AppliedChunk,
): Promise<ActionStatus | undefined> {
  // The applied chunk is marked done in the same statement: one round trip less per chunk.
  const markDone = applied
    ? { sql: "with chunk_done as (update bulkrun.bulk_action_chunks set status = 'done', finished_at = now(), duration_ms = ? where id = ?) ", bindings: [applied.durationMs, applied.id] }
    : { sql: "", bindings: [] };
  const { rows } = await trx.raw<{ rows: { done: boolean }[] }>(
    `${markDone.sql}update bulkrun.bulk_actions set
        processed = processed + ?, created = created + ?, updated = updated + ?,
        deleted = deleted + ?, skipped = skipped + ?, failed = failed + ?
      where id = ?
      returning processed >= total and status = 'running' as done`,
    [...markDone.bindings, counts.processed, counts.created, counts.updated, counts.deleted, counts.skipped, counts.failed, actionId],
  );
  if (!rows[0]?.done) return undefined;
  // Only for the last chunk, as it reads all of the action's chunks (2 ms for 2 000 of them). A
  // statement of its own: one that committed while this transaction waited for the action's row
  // (a chunk failed on its last attempt, say) is visible to a new statement's snapshot only.
  const { rows: failed } = await trx.raw<{ rows: { chunk_failed: boolean }[] }>(
    "select exists (select 1 from bulkrun.bulk_action_chunks where action_id = ? and status = 'failed') as chunk_failed",
    [actionId],
  );
  const chunkFailed = failed[0]!.chunk_failed;
  const status: ActionStatus = chunkFailed ? "failed" : "completed";
  await trx.raw("select bulkrun_private.transition_action(?, ?, ?, ?)", [
    actionId,
    status,
    chunkFailed ? "BULKRUN_ERR_CHUNK_FAILED" : null,
    chunkFailed ? "some chunks failed on every attempt; their rows are marked chunk_failed in the ledger" : null,
  ]);
  return status;
}
