import type { Knex } from "knex";

/**
 * Takes the tokens a chunk needs (its rows) from its account's bucket, which lives in Postgres
 * and so is shared by every worker on every machine. Returns 0 when taken, or when the chunk has
 * nothing to apply (done, action not running, a dry run); else the seconds until the bucket will
 * hold them: the caller then re-enqueues the chunk for that moment instead of waiting in a worker
 * slot. Runs in its own short transaction: holding the bucket's row lock for a chunk's whole
 * transaction would serialise the account's chunks.
 */
export async function takeChunkTokens(db: Knex, chunkId: number, windowMs: number): Promise<number> {
  const { rows } = await db.raw<{ rows: { wait: number }[] }>(
    `select coalesce((
       select bulkrun_private.take_tokens(a.account_id, c.rows, ?)
         from bulkrun.bulk_action_chunks c join bulkrun.bulk_actions a on a.id = c.action_id
        where c.id = ? and c.status = 'pending' and a.status = 'running' and not a.dry_run), 0) as wait`,
    [windowMs / 1000, chunkId],
  );
  return rows[0]!.wait;
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
