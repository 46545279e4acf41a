import type { Knex } from "knex";
import { ENGINE_OUTCOMES, type AnyAction, type ChunkRow, type OutcomeKind, type RowOutcome } from "../plugin.ts";
import { findAction } from "./actions.ts";
import type { EngineContext } from "./context.ts";
import { dedupeByKey } from "./dedupe.ts";
import { finishIfDone } from "./finalize.ts";
import { writeLedger, type LedgerEntry } from "./ledger.ts";
import { validateOptions } from "./options.ts";
import { pluginFor } from "./prepare.ts";

interface ChunkRecord {
  id: number;
  action_id: number;
  bucket_from: number;
  bucket_to: number;
}

interface StagedItem {
  bucket: number;
  row_number: number;
  key: string;
  data: unknown;
}

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
    const items = await stagedItems(trx, chunk);
    const { unique, duplicates } = dedupeByKey(items);
    const pluginStarted = performance.now();
    const outcomes = unique.length === 0 ? [] : await plugin.processChunk({
      db: trx,
      accountId: action.account_id,
      actionId: action.id,
      options: validateOptions(plugin.name, plugin.options, action.options),
      rows: unique.map((item): ChunkRow<unknown> => ({ row: item.row_number, key: item.key, data: item.data })),
    });
    pluginMs = performance.now() - pluginStarted;
    const entries = [...duplicates, ...ledgerEntries(plugin, unique, outcomes)];
    const counts = await writeLedger(trx, action.id, entries);
    await trx.raw(
      "update bulkrun.bulk_action_chunks set status = 'done', finished_at = now(), duration_ms = ? where id = ?",
      [Math.round(performance.now() - started), chunkId],
    );
    const status = await finishIfDone(trx, action.id, counts);
    return { actionId: action.id, rows: entries.length, status };
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
async function claimChunk(trx: Knex.Transaction, chunkId: number, worker: string, attempt: number): Promise<ChunkRecord | undefined> {
  const { rows } = await trx.raw<{ rows: ChunkRecord[] }>(
    `update bulkrun.bulk_action_chunks set attempts = ?, started_at = now(), worker = ?
      where id = ? and status = 'pending' returning id, action_id, bucket_from, bucket_to`,
    [attempt, worker, chunkId],
  );
  return rows[0];
}

async function stagedItems(trx: Knex.Transaction, chunk: ChunkRecord): Promise<StagedItem[]> {
  const { rows } = await trx.raw<{ rows: StagedItem[] }>(
    `select bucket, row_number, key, data from bulkrun.bulk_action_items
      where action_id = ? and bucket between ? and ? and status = 'pending'
      order by row_number`,
    [chunk.action_id, chunk.bucket_from, chunk.bucket_to],
  );
  return rows;
}

/** Pairs the plugin's outcomes with the rows; a plugin must report every row exactly once. */
function ledgerEntries(plugin: AnyAction, items: StagedItem[], outcomes: RowOutcome<string>[]): LedgerEntry[] {
  const byRow = new Map<number, RowOutcome<string>>();
  for (const outcome of outcomes) byRow.set(outcome.row, outcome);
  if (byRow.size !== items.length || outcomes.length !== items.length) {
    throw new Error(`${plugin.name} reported ${outcomes.length} outcomes for ${items.length} rows; it must report each row once`);
  }
  return items.map((item) => {
    const outcome = byRow.get(item.row_number);
    if (!outcome) throw new Error(`${plugin.name} reported no outcome for row ${item.row_number}`);
    const kind: OutcomeKind | undefined = plugin.outcomes[outcome.outcome] ?? ENGINE_OUTCOMES[outcome.outcome as keyof typeof ENGINE_OUTCOMES];
    if (!kind) throw new Error(`${plugin.name} reported outcome \`${outcome.outcome}\`, which it does not declare`);
    return {
      bucket: item.bucket,
      row: item.row_number,
      kind,
      outcome: outcome.outcome,
      error: outcome.error ?? null,
      entityId: outcome.entityId === undefined ? null : Number(outcome.entityId),
    };
  });
}
