import { EventEmitter } from "node:events";
import { Logger, run, type Runner, type TaskList, type WorkerEvents, type WorkerPool } from "graphile-worker";
import { runChunk } from "./engine/chunk.ts";
import type { EngineContext } from "./engine/context.ts";
import { failChunk } from "./engine/fail-chunk.ts";
import { prepareAction } from "./engine/prepare.ts";
import { endOwnTransactions } from "./engine/recovery.ts";
import { deliverWebhook, type WebhookPayload } from "./engine/webhook.ts";

/** A running Graphile Worker pool executing bulkrun's jobs. */
export interface WorkerHandle {
  /** Graphile Worker's pool id: the `locked_by` of the jobs this process holds. */
  poolId: string;
  /**
   * Finishes running jobs within `worker.shutdownGraceMs`; jobs still running then are failed (so
   * they run again, here or on another runner) and their transactions rolled back.
   */
  stop(): Promise<void>;
  /**
   * Settles if the pool stops without stop() being called: with the error it gave up on (a job it
   * could not mark completed or failed), or undefined when it ended on purpose (Graphile Worker
   * does so when a newer version migrated its schema incompatibly).
   */
  died: Promise<Error | undefined>;
}

/** Task payloads, as enqueued by the SQL trigger (prepare) and the planner (chunk). */
interface PreparePayload {
  actionId: number;
}
interface ChunkPayload {
  chunkId: number;
}

/**
 * A job enqueued to run later is noticed at Graphile Worker's next poll (up to
 * `worker.pollInterval` late); a chunk waiting for rate-limit tokens that long each time would
 * keep its account far below its limit. So this process also wakes one of its idle workers at the
 * moment the job is due. If the process is gone by then, the job is still in the queue for any
 * runner's poll.
 */
const DUE_MARGIN_MS = 5;

function taskList(ctx: EngineContext, poolId: () => string, nudge: () => void): TaskList {
  return {
    "bulkrun.prepare": async (payload, helpers) => {
      const { actionId } = payload as PreparePayload;
      await prepareAction(ctx, actionId, helpers.job.attempts >= helpers.job.max_attempts);
    },
    "bulkrun.chunk": async (payload, helpers) => {
      const { chunkId } = payload as ChunkPayload;
      try {
        const later = await runChunk(ctx, chunkId, poolId(), helpers.job.attempts);
        if (later) {
          // A fresh job for the same chunk: waiting for tokens burns no attempt and holds no slot.
          const waitMs = later.retryInSeconds * 1000;
          await helpers.addJob("bulkrun.chunk", payload, {
            jobKey: `bulkrun.chunk:${chunkId}`,
            runAt: new Date(Date.now() + waitMs),
            priority: helpers.job.priority,
            maxAttempts: helpers.job.max_attempts,
          });
          setTimeout(nudge, waitMs + DUE_MARGIN_MS).unref();
        }
      } catch (error) {
        if (helpers.job.attempts < helpers.job.max_attempts) throw error;
        await failChunk(ctx, chunkId, error as Error, helpers.job.attempts);
      }
    },
    "bulkrun.webhook": (payload, helpers) => deliverWebhook(ctx, payload as WebhookPayload, helpers),
  };
}

/**
 * Graphile Worker's own logs: warnings and errors go to ours, the chatter does not. Once a stop
 * has forced running jobs off, its errors about those jobs are expected and left out.
 */
function workerLogger(log: (line: string) => void, forcing: () => boolean): Logger {
  return new Logger(() => (level, message) => {
    if ((level === "error" || level === "warning") && !forcing()) log(`worker ${level}: ${message}`);
  });
}

/**
 * Starts executing prepare and chunk jobs. Finished jobs are released at once
 * (`completeJobBatchDelay: 0`), so a stop never leaves completed work locked.
 */
export async function startWorker(ctx: EngineContext): Promise<WorkerHandle> {
  const events: WorkerEvents = new EventEmitter() as WorkerEvents;
  let poolId = "";
  let pool: WorkerPool | undefined;
  events.on("pool:create", ({ workerPool }) => {
    poolId = workerPool.id;
    pool = workerPool;
  });
  let workers = 0;
  events.on("worker:create", () => workers++);
  events.on("worker:stop", () => workers--);
  let forcing = false;
  // Once the pool starts to close, its workers must not be nudged (Graphile Worker asserts).
  let closing = false;
  for (const event of ["pool:gracefulShutdown", "pool:forcefulShutdown", "pool:fatalError", "pool:release"] as const) {
    events.on(event, () => (closing = true));
  }
  const runner: Runner = await run({
    pgPool: ctx.db.pool,
    taskList: taskList(
      ctx,
      () => poolId,
      () => {
        if (!closing) pool?.nudge(1);
      },
    ),
    concurrency: ctx.config.worker.concurrency,
    pollInterval: ctx.config.worker.pollInterval,
    noHandleSignals: true,
    logger: workerLogger(ctx.log, () => forcing),
    events,
    gracefulShutdownAbortTimeout: ctx.config.worker.shutdownGraceMs,
    preset: { worker: { completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
  });
  let stopping = false;
  let ended = false;
  const died = new Promise<Error | undefined>((resolve) => {
    const end = (reason: Error | undefined) => {
      ended = true;
      if (!stopping) resolve(reason);
    };
    pool!.promise.then(
      () => end(undefined),
      (error: unknown) => end(asError(error)),
    );
    // A pool that could not record a job's outcome gives up: it stops its workers, but its own
    // shutdown can then wait forever on its batches of job updates (seen with Graphile Worker
    // 0.18). So it counts as dead once its workers have stopped, or after the grace period if a
    // task never returns.
    let gaveUp: Error | undefined;
    events.on("worker:stop", () => {
      if (workers === 0 && gaveUp) end(gaveUp);
    });
    events.on("pool:fatalError", ({ error }) => {
      if (gaveUp) return;
      gaveUp = asError(error);
      if (workers === 0) end(gaveUp);
      else setTimeout(() => end(gaveUp), ctx.config.worker.shutdownGraceMs).unref();
    });
  });
  return {
    poolId,
    died,
    async stop() {
      if (ended) return;
      stopping = true;
      const grace = ctx.config.worker.shutdownGraceMs;
      const graceful = runner.stop();
      if (await settlesWithin(graceful, grace)) return graceful;
      ctx.log(`jobs still running after the ${grace} ms grace period: rolling them back to run again`);
      forcing = true;
      // Failing the jobs first releases them even if their transactions cannot be found; each
      // such run counts as an attempt, like any failure.
      const { forceFailedJobs } = await pool!.forcefulShutdown(`the runner stopped; the job was still running after the ${grace} ms grace period`);
      const rolledBack = await endOwnTransactions(ctx.db);
      ctx.log(`${forceFailedJobs.length} job(s) released to run again, ${rolledBack} open transaction(s) rolled back`);
      // Not awaited: once forced, a graceful shutdown that was stuck may never settle (see `died`).
      graceful.catch(() => {});
    },
  };
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** Whether `promise` settles within `ms` milliseconds. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
