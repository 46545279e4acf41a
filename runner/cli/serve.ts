import { randomUUID } from "node:crypto";
import { startHeartbeat } from "../engine/heartbeat.ts";
import { startWorker } from "../worker.ts";
import { redact } from "../db/database.ts";
import type { Io, Runtime } from "./runtime.ts";

/** The roles running in this process, and how to stop them all. */
export interface Served {
  poolId: string;
  stop(): Promise<void>;
}

/** Starts the worker and the heartbeat in this process. */
export async function serve(runtime: Runtime, roles: string[], io: Io): Promise<Served> {
  const worker = await startWorker(runtime);
  const heartbeat = await startHeartbeat(runtime.db.knex, worker.poolId || `runner-${randomUUID()}`, roles);
  io.err(
    `bulkrun ${roles.join(" + ")} running (pid ${process.pid}, pool ${worker.poolId}, ` +
      `concurrency ${runtime.config.worker.concurrency}) on ${redact(runtime.db.url)}`,
  );
  return {
    poolId: worker.poolId,
    async stop() {
      await worker.stop();
      await heartbeat.stop();
    },
  };
}

/** Resolves on the first SIGINT or SIGTERM. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      resolve(signal);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}
