import type pg from "pg";

/** A range of hash buckets holding about `rows` pending rows. */
export interface ChunkPlan {
  seq: number;
  bucketFrom: number;
  bucketTo: number;
  rows: number;
}

/** Cuts the action's pending rows into chunks of about `chunkSize` rows along bucket lines. */
export async function planChunks(client: pg.PoolClient, actionId: number, chunkSize: number): Promise<ChunkPlan[]> {
  const { rows } = await client.query<{ bucket: number; n: number }>(
    `select bucket, count(*)::int as n from bulkrun.bulk_action_items
      where action_id = $1 and status = 'pending' group by bucket order by bucket`,
    [actionId],
  );
  const chunks: ChunkPlan[] = [];
  let current: ChunkPlan | undefined;
  for (const { bucket, n } of rows) {
    if (!current) current = { seq: chunks.length + 1, bucketFrom: bucket, bucketTo: bucket, rows: 0 };
    current.bucketTo = bucket;
    current.rows += n;
    if (current.rows >= chunkSize) {
      chunks.push(current);
      current = undefined;
    }
  }
  if (current) chunks.push(current);
  return chunks;
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
       insert into bulkrun.bulk_action_chunks (action_id, seq, bucket_from, bucket_to, rows)
       select $1, * from unnest($2::int[], $3::int[], $4::int[], $5::int[])
       returning id, seq)
     select graphile_worker.add_job('bulkrun.chunk', json_build_object('chunkId', chunk.id),
              job_key := 'bulkrun.chunk:' || chunk.id, max_attempts := $6,
              priority := bulkrun_private.chunk_priority(a.priority, chunk.seq))
       from chunk, bulkrun.bulk_actions a where a.id = $1`,
    [
      actionId,
      chunks.map((c) => c.seq),
      chunks.map((c) => c.bucketFrom),
      chunks.map((c) => c.bucketTo),
      chunks.map((c) => c.rows),
      maxAttempts,
    ],
  );
}
