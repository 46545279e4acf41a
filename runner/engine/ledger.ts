import type { Knex } from "knex";
import { arrayParam } from "../db/array-param.ts";
import type { OutcomeKind } from "../plugin.ts";
import type { ChunkRange } from "./staged.ts";

/** The final word on one staged row. */
export interface LedgerEntry {
  row: number;
  kind: OutcomeKind;
  outcome: string;
  error: string | null;
  entityId: number | null;
}

/** What a set of entries adds to an action's counters. */
export type Counts = Record<OutcomeKind | "processed", number>;

export function emptyCounts(): Counts {
  return { processed: 0, created: 0, updated: 0, deleted: 0, skipped: 0, failed: 0 };
}

/** The ledger status of a row with an outcome of each kind. */
export const ITEM_STATUS: Record<OutcomeKind, string> = {
  created: "succeeded",
  updated: "succeeded",
  deleted: "succeeded",
  skipped: "skipped",
  failed: "failed",
};

/** Writes the outcomes of the chunk's rows into the ledger in one statement and adds them to `counts`. */
export async function writeLedger(trx: Knex.Transaction, chunk: ChunkRange, entries: LedgerEntry[], counts: Counts): Promise<void> {
  if (entries.length === 0) return;
  counts.processed += entries.length;
  for (const entry of entries) counts[entry.kind]++;
  // The row range lets the planner walk the primary key over the chunk's stretch of the ledger
  // whatever it guesses about the outcomes.
  await trx.raw(
    `update bulkrun.bulk_action_items i
        set status = o.status, outcome = o.outcome, error = o.error, entity_id = o.entity_id
       from unnest(?::int[], ?::text[], ?::text[], ?::text[], ?::bigint[]) as o(row_number, status, outcome, error, entity_id)
      where i.action_id = ? and i.row_number between ? and ? and i.row_number = o.row_number`,
    [
      entries.map((e) => e.row),
      entries.map((e) => ITEM_STATUS[e.kind]),
      entries.map((e) => e.outcome),
      arrayParam(entries.map((e) => e.error)),
      arrayParam(entries.map((e) => e.entityId)),
      chunk.action_id,
      chunk.row_from,
      chunk.row_to,
    ],
  );
}
