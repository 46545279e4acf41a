import type { Knex } from "knex";

/**
 * The chunk's rows, de-duplicated, in a temporary table of the chunk's connection: plugins read
 * them with set-based SQL (`select ... from pg_temp.bulkrun_chunk_rows`) instead of shipping them
 * through Node. Emptied at every commit.
 */
export const STAGED_TABLE = "pg_temp.bulkrun_chunk_rows";

/** The hash range of one action that a chunk covers. */
export interface ChunkRange {
  action_id: number;
  bucket_from: number;
  bucket_to: number;
}

/**
 * Fills the staged table with the last pending row of every key in the range (rows keep file
 * order, so the last row wins) and records the earlier ones as `duplicate_in_file`. Every
 * duplicate of a key is in this chunk, since the bucket is a hash of the key. Keys are compared
 * byte-wise (collate "C"): equality is all that matters, and it sorts several times faster.
 */
export async function stageChunk(trx: Knex.Transaction, chunk: ChunkRange): Promise<{ rows: number; duplicates: number }> {
  await trx.raw(
    `create temporary table if not exists bulkrun_chunk_rows
       (row_number integer not null, bucket integer not null, key text not null, data jsonb)
       on commit delete rows`,
  );
  const range = [chunk.action_id, chunk.bucket_from, chunk.bucket_to];
  const staged = await trx.raw<{ rowCount: number }>(
    `insert into ${STAGED_TABLE} (row_number, bucket, key, data)
     select distinct on (key collate "C") row_number, bucket, key, data from bulkrun.bulk_action_items
      where action_id = ? and bucket between ? and ? and status = 'pending'
      order by key collate "C", row_number desc`,
    range,
  );
  const duplicates = await trx.raw<{ rowCount: number }>(
    `update bulkrun.bulk_action_items i
        set status = 'skipped', outcome = 'duplicate_in_file',
            error = format('row %s has the same key (%s); the last row wins', s.row_number, s.key)
       from ${STAGED_TABLE} s
      where i.action_id = ? and i.bucket between ? and ? and i.status = 'pending'
        and i.bucket = s.bucket and i.key = s.key and i.row_number < s.row_number`,
    range,
  );
  return { rows: staged.rowCount, duplicates: duplicates.rowCount };
}
