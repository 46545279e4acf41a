import type { EngineContext } from "./context.ts";
import { failChunk } from "./fail-chunk.ts";
import { failPreparation } from "./prepare.ts";

/** A job of bulkrun's that used its last attempt without finishing it; its key names its chunk or action. */
interface ExhaustedJob {
  id: string;
  task_identifier: "bulkrun.chunk" | "bulkrun.prepare";
  subject: number;
  attempts: number;
  last_error: string | null;
}

/** What was ended, for the log. */
export interface EndedWork {
  chunks: number[];
  actions: number[];
}

/**
 * Ends the work whose job ran out of attempts without the task finishing it: the runner running
 * the last attempt died (its jobs were released to run again, but none is left) or was stopped
 * past its grace period. Left alone, the chunk would stay pending and its action running (or
 * preparing) for ever. The chunk fails as if its last attempt had thrown (its rows become
 * `chunk_failed`, for `retry`); an action that was still being prepared fails. The job is then
 * removed. A task that ends its last attempt itself never leaves such a job. Jobs Graphile Worker
 * retired while they ran are removed too (removeRetiredJobs).
 */
export async function endExhaustedJobs(ctx: EngineContext): Promise<EndedWork> {
  const { rows } = await ctx.db.knex.raw<{ rows: ExhaustedJob[] }>(
    `select j.id, j.task_identifier, j.attempts, j.last_error, split_part(j.key, ':', 2)::bigint as subject
       from graphile_worker.jobs j
      where j.task_identifier in ('bulkrun.chunk', 'bulkrun.prepare') and j.key = j.task_identifier || ':' || split_part(j.key, ':', 2)
        and j.locked_at is null and j.attempts >= j.max_attempts`,
  );
  const ended: EndedWork = { chunks: [], actions: [] };
  for (const job of rows) {
    const why = `the runner running its last attempt (of ${job.attempts}) stopped before finishing it` +
      (job.last_error ? `; the attempt before failed: ${job.last_error}` : "");
    if (job.task_identifier === "bulkrun.chunk") {
      if (await failChunk(ctx, job.subject, new Error(why), job.attempts)) ended.chunks.push(job.subject);
    } else if (await failPreparation(ctx, job.subject, { code: "BULKRUN_ERR_PREPARE_FAILED", message: `preparing the action failed: ${why}` })) {
      ended.actions.push(job.subject);
    }
    await ctx.db.knex.raw("select graphile_worker.complete_jobs(array[?::bigint])", [job.id]);
  }
  await removeRetiredJobs(ctx);
  return ended;
}

/**
 * Removes jobs that Graphile Worker retired while they ran, once they are released: a chunk job
 * waiting for rate-limit tokens enqueues its successor under its own key, and a cancelled
 * schedule removes its preparation job; a running job then loses its key and all its attempts, and
 * its work is the successor's, or nobody's. One that finishes is deleted as usual; one whose
 * runner died would stay in the queue for ever, never to run again.
 */
async function removeRetiredJobs(ctx: EngineContext): Promise<void> {
  await ctx.db.knex.raw(
    `select graphile_worker.complete_jobs(array(
       select id from graphile_worker.jobs
        where task_identifier in ('bulkrun.chunk', 'bulkrun.prepare') and key is null
          and locked_at is null and attempts >= max_attempts))`,
  );
}
