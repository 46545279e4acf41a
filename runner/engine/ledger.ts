import type { Knex } from "knex";
import { arrayParam } from "../db/array-param.ts";
import type { OutcomeKind } from "../plugin.ts";

/** The final word on one row. */
export interface LedgerEntry {
  bucket: number;
  row: number;
  kind: OutcomeKind;
  outcome: string;
  error: string | null;
  entityId: number | null;
}

/** What a set of entries adds to an action's counters. */
export type Counts = Record<OutcomeKind | "processed", number>;

const ITEM_STATUS: Record<OutcomeKind, string> = {
  created: "succeeded",
  updated: "succeeded",
  deleted: "succeeded",
  skipped: "skipped",
  failed: "failed",
};

/** Writes the entries into the ledger in one statement and returns what they count. */
export async function writeLedger(trx: Knex.Transaction, actionId: number, entries: LedgerEntry[]): Promise<Counts> {
  const counts: Counts = { processed: entries.length, created: 0, updated: 0, deleted: 0, skipped: 0, failed: 0 };
  if (entries.length === 0) return counts;
  for (const entry of entries) counts[entry.kind]++;
  await trx.raw(
    `update bulkrun.bulk_action_items i
        set status = u.status, outcome = u.outcome, error = u.error, entity_id = u.entity_id
       from unnest(?::int[], ?::int[], ?::text[], ?::text[], ?::text[], ?::bigint[])
         as u(bucket, row_number, status, outcome, error, entity_id)
      where i.action_id = ? and i.bucket = u.bucket and i.row_number = u.row_number`,
    [
      entries.map((e) => e.bucket),
      entries.map((e) => e.row),
      entries.map((e) => ITEM_STATUS[e.kind]),
      entries.map((e) => e.outcome),
      arrayParam(entries.map((e) => e.error)),
      arrayParam(entries.map((e) => e.entityId)),
      actionId,
    ],
  );
  return counts;
}
