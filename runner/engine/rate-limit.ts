import type { Knex } from "knex";

/**
 * Takes `rows` tokens from the account's bucket, which lives in Postgres and so is shared by
 * every worker on every machine. Returns 0 when taken, else the seconds until the bucket will hold
 * them; the caller then re-enqueues the chunk for that moment instead of waiting in a worker slot.
 * Runs in its own short transaction: holding the bucket's row lock for a chunk's whole
 * transaction would serialise the account's chunks.
 */
export async function takeTokens(db: Knex, accountId: number, rows: number, windowMs: number): Promise<number> {
  const { rows: result } = await db.raw<{ rows: { wait: number }[] }>(
    "select bulkrun_private.take_tokens(?, ?, ?) as wait",
    [accountId, rows, windowMs / 1000],
  );
  return result[0]!.wait;
}

/** A rate-limited account's quota: rows it may apply now, and when a full window's worth is back. */
export interface Quota {
  rows_available: number;
  full_at: Date;
}

/** The quota of every rate-limited account, by account id. */
export async function accountQuotas(db: Knex, windowMs: number): Promise<Map<number, Quota>> {
  const { rows } = await db.raw<{ rows: (Quota & { id: number })[] }>(
    "select a.id, q.* from bulkrun.accounts a cross join lateral bulkrun.account_quota(a.id, ?) q",
    [windowMs / 1000],
  );
  return new Map(rows.map(({ id, ...quota }) => [id, quota]));
}
