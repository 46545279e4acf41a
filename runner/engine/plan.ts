import type pg from "pg";

/** A range of row numbers holding `rows` pending rows. */
export interface ChunkPlan {
  seq: number;
  rowFrom: number;
  rowTo: number;
  rows: number;
}

/** Cuts the action's pending rows, in row order, into chunks of `chunkSize` rows (the last may be smaller). */
export async function planChunks(client: pg.PoolClient, actionId: number, chunkSize: number): Promise<ChunkPlan[]> {
  const { rows } = await client.query<ChunkPlan>(
    `select seq::int + 1 as "seq", min(row_number) as "rowFrom", max(row_number) as "rowTo", count(*)::int as "rows"
       from (select row_number, (row_number() over (order by row_number) - 1) / $2 as seq
               from bulkrun.bulk_action_items where action_id = $1 and status = 'pending') pending
      group by seq order by seq`,
    [actionId, chunkSize],
  );
  return rows;
}

/**
 * Records the chunks and enqueues one job per chunk, in the caller's transaction. Chunk n of every
 * action gets about the same queue priority, so actions take turns (see chunk_priority).
 */
export async function enqueueChunks(
  client: pg.PoolClient,
  actionId: number,
  chunks: ChunkPlan[],
  maxAttempts: number,
): Promise<void> {
  if (chunks.length === 0) return;
  await client.query(
    `with chunk as (
       insert into bulkrun.bulk_action_chunks (action_id, seq, row_from, row_to, rows, max_attempts)
       select $1, *, $6::int from unnest($2::int[], $3::int[], $4::int[], $5::int[])
       returning id, seq, max_attempts)
     select graphile_worker.add_job('bulkrun.chunk', json_build_object('chunkId', chunk.id),
              job_key := 'bulkrun.chunk:' || chunk.id, max_attempts := chunk.max_attempts,
              priority := bulkrun_private.chunk_priority(a.priority, chunk.seq))
       from chunk, bulkrun.bulk_actions a where a.id = $1`,
    [
      actionId,
      chunks.map((c) => c.seq),
      chunks.map((c) => c.rowFrom),
      chunks.map((c) => c.rowTo),
      chunks.map((c) => c.rows),
      maxAttempts,
    ],
  );
}
