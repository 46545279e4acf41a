import type { Knex } from "knex";

/**
 * The chunk's rows in a temporary table of the chunk's connection: plugins read them with
 * set-based SQL (`select ... from pg_temp.bulkrun_chunk_rows`) instead of shipping them through
 * Node. Emptied at every commit.
 */
export const STAGED_TABLE = "pg_temp.bulkrun_chunk_rows";

/** The rows of one action that a chunk covers, by row number. */
export interface ChunkRange {
  action_id: number;
  row_from: number;
  row_to: number;
}

/**
 * Fills the staged table with the chunk's pending rows. Duplicates were settled when the action's rows
 * were staged (see markDuplicates), so every key appears once.
 */
export async function stageChunk(trx: Knex.Transaction, chunk: ChunkRange): Promise<number> {
  await trx.raw(
    `create temporary table if not exists bulkrun_chunk_rows
       (row_number integer not null, key text not null, data jsonb)
       on commit delete rows`,
  );
  const staged = await trx.raw<{ rowCount: number }>(
    `insert into ${STAGED_TABLE} (row_number, key, data)
     select row_number, key, data from bulkrun.bulk_action_items
      where action_id = ? and row_number between ? and ? and status = 'pending'`,
    [chunk.action_id, chunk.row_from, chunk.row_to],
  );
  return staged.rowCount;
}
