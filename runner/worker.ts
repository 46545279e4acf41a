import { EventEmitter } from "node:events";
import { Logger, run, type Runner, type TaskList, type WorkerEvents } from "graphile-worker";
import { runChunk } from "./engine/chunk.ts";
import type { EngineContext } from "./engine/context.ts";
import { failChunk } from "./engine/fail-chunk.ts";
import { prepareAction } from "./engine/prepare.ts";
import { deliverWebhook, type WebhookPayload } from "./engine/webhook.ts";

/** A running Graphile Worker pool executing bulkrun's jobs. */
export interface WorkerHandle {
  /** Graphile Worker's pool id: the `locked_by` of the jobs this process holds. */
  poolId: string;
  /** Finishes running jobs (up to the configured grace period), then releases the rest. */
  stop(): Promise<void>;
}

/** Task payloads, as enqueued by the SQL trigger (prepare) and the planner (chunk). */
interface PreparePayload {
  actionId: number;
}
interface ChunkPayload {
  chunkId: number;
}

function taskList(ctx: EngineContext, poolId: () => string): TaskList {
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
          await helpers.addJob("bulkrun.chunk", payload, {
            jobKey: `bulkrun.chunk:${chunkId}`,
            runAt: new Date(Date.now() + later.retryInSeconds * 1000),
            priority: helpers.job.priority,
            maxAttempts: helpers.job.max_attempts,
          });
        }
      } catch (error) {
        if (helpers.job.attempts < helpers.job.max_attempts) throw error;
        await failChunk(ctx, chunkId, error as Error, helpers.job.attempts);
      }
    },
    "bulkrun.webhook": (payload, helpers) => deliverWebhook(ctx, payload as WebhookPayload, helpers),
  };
}

/** Graphile Worker's own logs: warnings and errors go to ours, the chatter does not. */
function workerLogger(log: (line: string) => void): Logger {
  return new Logger(() => (level, message) => {
    if (level === "error" || level === "warning") log(`worker ${level}: ${message}`);
  });
}

/**
 * Starts executing prepare and chunk jobs. Finished jobs are released at once
 * (`completeJobBatchDelay: 0`), so a stop never leaves completed work locked.
 */
export async function startWorker(ctx: EngineContext): Promise<WorkerHandle> {
  const events: WorkerEvents = new EventEmitter() as WorkerEvents;
  let poolId = "";
  events.on("pool:create", ({ workerPool }) => {
    poolId = workerPool.id;
  });
  const runner: Runner = await run({
    pgPool: ctx.db.pool,
    taskList: taskList(ctx, () => poolId),
    concurrency: ctx.config.worker.concurrency,
    pollInterval: ctx.config.worker.pollInterval,
    noHandleSignals: true,
    logger: workerLogger(ctx.log),
    events,
    gracefulShutdownAbortTimeout: ctx.config.worker.shutdownGraceMs,
    preset: { worker: { completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
  });
  return {
    poolId,
    async stop() {
      await runner.stop();
    },
  };
}
