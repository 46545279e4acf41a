import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { recordCapacity } from "../engine/capacity.ts";
import { startHeartbeat, type Heartbeat } from "../engine/heartbeat.ts";
import { releaseJobs, releaseStoppedPool, startSweeper, type Sweeper } from "../engine/recovery.ts";
import { startRetention } from "../engine/retention.ts";
import { loadApi } from "../api/load.ts";
import { BulkrunError } from "../errors.ts";
import { startWorker, type WorkerHandle } from "../worker.ts";
import { redact } from "../db/database.ts";
import { startScheduler } from "../scheduler.ts";
import type { Io, Runtime } from "./runtime.ts";

/** The roles running in this process, and how to stop them all. */
export interface Served {
  /** The current worker pool's id (a new one after a restart). */
  readonly poolId: string;
  /** The API's base address, when this process serves it. */
  readonly apiUrl: string | undefined;
  stop(): Promise<void>;
}

/** A served role that stopped by itself ends the wait of {@link untilSignal}. */
const roleStopped = new EventEmitter<{ stopped: [reason: string] }>();
let stoppedBy: string | undefined;

/** A Graphile Worker pool with its heartbeat and sweeper, all under the pool's id. */
interface PoolRun {
  id: string;
  worker: WorkerHandle;
  heartbeat: Heartbeat;
  sweeper: Sweeper;
  /** Set once its pool stopped by itself. */
  ended: boolean;
}

const RESTART_BACKOFF_MS = [500, 1000, 2000, 5000, 10_000, 30_000];

async function startPool(runtime: Runtime, roles: string[]): Promise<PoolRun> {
  const worker = await startWorker(runtime);
  const id = worker.poolId || `runner-${randomUUID()}`;
  const { heartbeatMs, deadAfterMs } = runtime.config.worker;
  try {
    const heartbeat = await startHeartbeat(runtime.db.knex, id, roles, { intervalMs: heartbeatMs, log: runtime.log });
    // Only shown by the dashboard: not worth failing a start over.
    await recordCapacity(runtime.db.knex, id, runtime.config.worker.concurrency).catch((error: Error) =>
      runtime.log(`recording the worker slots of runner ${id} failed: ${error.message}`),
    );
    const sweeper = startSweeper(runtime, { self: id, intervalMs: heartbeatMs, deadAfterMs });
    return { id, worker, heartbeat, sweeper, ended: false };
  } catch (error) {
    await worker.stop();
    throw error;
  }
}

/**
 * Starts the worker, the heartbeat, the sweeper that recovers the jobs of dead runners, the
 * cron scheduler (every runner runs one; each tick still starts one action), and ledger retention
 * (every runner runs it; one prunes at a time).
 *
 * Graphile Worker rides out most lost connections by itself: its LISTEN connection reconnects
 * with back-off and job fetches retry every poll. But when marking a job completed or failed
 * fails (its connection was cut, the database is restarting), its pool gives up and stops. This
 * process then starts a new pool in its place, retrying with back-off while the database is away,
 * rather than exit: a database restart must not take down every runner that has no supervisor.
 * The jobs the stopped pool still holds are released (a job whose chunk committed finds it done)
 * and its row is kept as dead. A pool that ended without an error did so on purpose: Graphile
 * Worker stops when a newer version migrated its schema incompatibly, and running on would run
 * outdated code; this process then exits non-zero so that a supervisor starts the new version.
 */
export async function serve(runtime: Runtime, roles: string[], io: Io): Promise<Served> {
  // First: a port already taken stops the start before any job is taken.
  const api = roles.includes("api") ? await (await loadApi()).startApi(runtime) : undefined;
  if (api) io.err(`bulkrun api listening on ${api.url}/graphql (Ruru: ${api.url}/graphiql)`);
  let current = await startPool(runtime, roles).catch(async (error: unknown) => {
    await api?.stop();
    throw error;
  });
  const scheduler = await startScheduler(runtime, { runnerId: current.id });
  const retention = startRetention(runtime);
  io.err(
    `bulkrun ${roles.join(" + ")} running (pid ${process.pid}, pool ${current.id}, ` +
      `concurrency ${runtime.config.worker.concurrency}) on ${redact(runtime.db.url)}`,
  );
  const stopping = new AbortController();
  let restarting: Promise<void> | undefined;
  let endedOnPurpose = false;

  const replace = async (stopped: PoolRun, error: Error) => {
    runtime.log(`worker pool ${stopped.id} stopped: ${error.message}; starting a new one`);
    await stopped.sweeper.stop();
    await stopped.heartbeat.halt();
    for (let attempt = 0; !stopping.signal.aborted; attempt++) {
      try {
        const released = await releaseStoppedPool(runtime.db.knex, stopped.id);
        current = await startPool(runtime, roles);
        watch(current);
        runtime.log(`worker pool ${current.id} took over from ${stopped.id} (${released} locked job(s) released)`);
        return;
      } catch (cause) {
        const delay = RESTART_BACKOFF_MS[Math.min(attempt, RESTART_BACKOFF_MS.length - 1)]!;
        runtime.log(`starting a new worker pool failed (trying again in ${delay} ms): ${(cause as Error).message}`);
        await sleep(delay, undefined, { signal: stopping.signal }).catch(() => {});
      }
    }
  };
  const watch = (run: PoolRun) => {
    void run.worker.died.then((error) => {
      run.ended = true;
      if (error) {
        restarting = replace(run, error);
        return;
      }
      endedOnPurpose = true;
      stoppedBy = "the worker pool stopped by itself";
      roleStopped.emit("stopped", stoppedBy);
    });
  };
  watch(current);

  return {
    get poolId() {
      return current.id;
    },
    apiUrl: api?.url,
    async stop() {
      stopping.abort();
      await api?.stop();
      await restarting;
      await scheduler.stop();
      await retention.stop();
      await current.sweeper.stop();
      const { id, worker, heartbeat, ended } = current;
      if (!ended) {
        try {
          await worker.stop();
        } catch (error) {
          await heartbeat.halt();
          throw error;
        }
        // A stopped pool holds nothing; this also covers one that gave up while being stopped.
        await releaseJobs(runtime.db.knex, id);
        await heartbeat.stop();
        return;
      }
      await heartbeat.halt();
      const failed = await releaseStoppedPool(runtime.db.knex, id).then(
        () => undefined,
        (error: Error) => error,
      );
      if (endedOnPurpose) {
        throw new BulkrunError(
          "BULKRUN_ERR_WORKER_STOPPED",
          "the worker pool stopped by itself, as Graphile Worker does when a newer version migrated its schema; " +
            "exiting so that a supervisor starts this runner afresh",
        );
      }
      if (failed) throw failed;
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
