import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { startHeartbeat } from "../engine/heartbeat.ts";
import { recoverSelf, startSweeper } from "../engine/recovery.ts";
import { BulkrunError } from "../errors.ts";
import { startWorker } from "../worker.ts";
import { redact } from "../db/database.ts";
import { startScheduler } from "../scheduler.ts";
import type { Io, Runtime } from "./runtime.ts";

/** The roles running in this process, and how to stop them all. */
export interface Served {
  poolId: string;
  stop(): Promise<void>;
}

/** A served role that stopped by itself ends the wait of {@link untilSignal}. */
const roleStopped = new EventEmitter<{ stopped: [reason: string] }>();
let stoppedBy: string | undefined;

/**
 * Starts the worker, the heartbeat, the sweeper that recovers the jobs of dead runners, and the
 * cron scheduler (every runner runs one; each tick still starts one action).
 *
 * Graphile Worker rides out lost connections by itself: its LISTEN connection reconnects with
 * back-off, job fetches retry every poll, and completing or failing a job is retried for minutes.
 * Its pool stops only when it gives up (the database stayed away through all of that) or when a
 * newer Graphile Worker migrated its schema incompatibly. Then this process exits non-zero rather
 * than start a new pool in place: its code may be outdated, and a supervisor (systemd, Kubernetes,
 * a restart policy) starts it afresh. On the way out it releases the jobs it still holds, or, if
 * the database is unreachable, any live runner does once its beats have stopped.
 */
export async function serve(runtime: Runtime, roles: string[], io: Io): Promise<Served> {
  const worker = await startWorker(runtime);
  const id = worker.poolId || `runner-${randomUUID()}`;
  const { heartbeatMs, deadAfterMs } = runtime.config.worker;
  const heartbeat = await startHeartbeat(runtime.db.knex, id, roles, { intervalMs: heartbeatMs, log: runtime.log });
  const sweeper = startSweeper(runtime.db.knex, { self: id, intervalMs: heartbeatMs, deadAfterMs, log: runtime.log });
  const scheduler = await startScheduler(runtime, { runnerId: id });
  io.err(
    `bulkrun ${roles.join(" + ")} running (pid ${process.pid}, pool ${worker.poolId}, ` +
      `concurrency ${runtime.config.worker.concurrency}) on ${redact(runtime.db.url)}`,
  );
  let died: Error | undefined;
  void worker.died.then((error) => {
    died = error;
    stoppedBy = "the worker pool stopped by itself";
    roleStopped.emit("stopped", stoppedBy);
  });
  return {
    poolId: worker.poolId,
    async stop() {
      await scheduler.stop();
      await sweeper.stop();
      if (died) {
        await heartbeat.halt();
        await recoverSelf(runtime.db.knex, id).catch((error: Error) => runtime.log(`releasing this runner's jobs failed: ${error.message}`));
        throw new BulkrunError(
          "BULKRUN_ERR_WORKER_STOPPED",
          `the worker pool stopped by itself (${died.message}); exiting so that a supervisor restarts this runner`,
          { cause: died },
        );
      }
      try {
        await worker.stop();
      } catch (error) {
        await heartbeat.halt();
        throw error;
      }
      await heartbeat.stop();
    },
  };
}

/**
 * Resolves with the signal's name on the first SIGINT or SIGTERM, or with why when a served role
 * stopped by itself (its `stop()` then fails with the reason).
 */
export function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const done = (reason: string) => {
      process.off("SIGINT", done);
      process.off("SIGTERM", done);
      roleStopped.off("stopped", done);
      resolve(reason);
    };
    process.on("SIGINT", done);
    process.on("SIGTERM", done);
    roleStopped.on("stopped", done);
    if (stoppedBy) done(stoppedBy);
  });
}
