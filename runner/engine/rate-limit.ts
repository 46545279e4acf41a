import type { Knex } from "knex";

/** The tokens a chunk needs: its rows, from its account's bucket. */
export interface TokenRequest {
  accountId: number;
  rows: number;
}

/** What taking a chunk's tokens gave: seconds to wait for them (0: go on), and what was taken. */
export interface ChunkTokens {
  waitSeconds: number;
  taken?: TokenRequest;
}

/**
 * Takes the tokens a chunk of a rate-limited account needs from the account's bucket, which
 * lives in Postgres and so is shared by every worker on every machine. When the bucket does not
 * hold them yet, says how many seconds until it will: the caller then re-enqueues the chunk for
 * that moment instead of waiting in a worker slot. Runs in its own short transaction: holding the
 * bucket's row lock for a chunk's whole transaction would serialise the account's chunks; so a
 * chunk that then applies nothing gives its tokens back (returnChunkTokens).
 */
export async function takeChunkTokens(db: Knex, request: TokenRequest, windowMs: number): Promise<ChunkTokens> {
  const { rows } = await db.raw<{ rows: { wait: number }[] }>("select bulkrun_private.take_tokens(?, ?, ?) as wait", [
    request.accountId,
    request.rows,
    windowMs / 1000,
  ]);
  const wait = rows[0]!.wait;
  return wait > 0 ? { waitSeconds: wait } : { waitSeconds: 0, taken: request };
}

/** Gives back tokens a chunk took but did not use (its transaction rolled back, or it found nothing to apply). */
export async function returnChunkTokens(db: Knex, { taken }: ChunkTokens): Promise<void> {
  if (!taken) return;
  await db.raw(
    `update bulkrun_private.rate_buckets b set tokens = least(b.tokens + ?, a.rate_limit_per_minute)
       from bulkrun.accounts a where b.account_id = ? and a.id = b.account_id and a.rate_limit_per_minute is not null`,
    [taken.rows, taken.accountId],
  );
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
