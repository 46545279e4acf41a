import { randomBytes } from "node:crypto";
import pg from "pg";
import { resolveConfig, type BulkrunConfig } from "../../runner/config.ts";
import { openDatabase } from "../../runner/db/database.ts";
import type { EngineContext } from "../../runner/engine/context.ts";
import { EngineEvents } from "../../runner/engine/events.ts";
import { startWorker, type WorkerHandle } from "../../runner/worker.ts";
import config from "../../runner.config.ts";
import { TEMPLATE, testServer, withDatabase } from "./server.ts";

/** An engine context on a fresh database of its own, cloned from the migrated template. */
export interface TestRuntime extends EngineContext {
  /** Connection string of this test's database. */
  url: string;
  startWorker(): Promise<WorkerHandle>;
  close(): Promise<void>;
}

/** A database for one test file (or test), with the project's plugins unless told otherwise. */
export async function testRuntime(overrides: Partial<BulkrunConfig> = {}): Promise<TestRuntime> {
  const server = await testServer();
  const name = `bulkrun_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  try {
    await admin.query(`create database ${name} template ${TEMPLATE}`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(server.url, name);
  const resolved = resolveConfig(
    { ...config, chunkSize: 1000, ...overrides, worker: { concurrency: 2, pollInterval: 200, ...config.worker, ...overrides.worker } },
    { DATABASE_URL: url },
  );
  const db = await openDatabase(resolved, { poolSize: 8 });
  const workers: WorkerHandle[] = [];
  const ctx: TestRuntime = {
    url,
    db,
    config: resolved,
    events: new EngineEvents(),
    log: (line) => console.error(line),
    async startWorker() {
      const worker = await startWorker(ctx);
      workers.push(worker);
      return worker;
    },
    async close() {
      for (const worker of workers) await worker.stop();
      await db.close();
      const cleanup = new pg.Client({ connectionString: server.url });
      await cleanup.connect();
      await cleanup.query(`drop database if exists ${name} with (force)`);
      await cleanup.end();
    },
  };
  return ctx;
}
