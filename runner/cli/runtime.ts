import { loadConfig } from "../config.ts";
import { openDatabase } from "../db/database.ts";
import { migrate } from "../db/migrate.ts";
import type { EngineContext } from "../engine/context.ts";
import { EngineEvents } from "../engine/events.ts";

/** Output of a command: stdout for results, stderr for progress and messages. */
export interface Io {
  out(line: string): void;
  err(line: string): void;
  /** Rewrites the current stderr line (progress) when stderr is a terminal. */
  status(line: string): void;
  isTTY: boolean;
}

export const processIo: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  status: (line) => {
    if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2K${line}`);
  },
  isTTY: Boolean(process.stderr.isTTY),
};

/** An engine context with its database open and migrated. */
export interface Runtime extends EngineContext {
  close(): Promise<void>;
}

export interface RuntimeOptions {
  /** Apply pending migrations on open. @default true */
  migrate?: boolean;
}

/** Loads the configuration, connects (starting the embedded Postgres if needed) and migrates. */
async function openRuntime(io: Io, options: RuntimeOptions = {}): Promise<Runtime> {
  const config = await loadConfig();
  const log = (line: string) => io.err(line);
  const db = await openDatabase(config, { log, poolSize: config.worker.concurrency + 4 });
  try {
    if (options.migrate !== false) await migrate(db.pool, [...config.plugins.values()]);
  } catch (error) {
    await db.close();
    throw error;
  }
  return { db, config, events: new EngineEvents(), log, close: () => db.close() };
}

/** Runs `body` with a runtime and always closes it (stopping an embedded Postgres it started). */
export async function withRuntime<T>(io: Io, body: (runtime: Runtime) => Promise<T>, options?: RuntimeOptions): Promise<T> {
  const runtime = await openRuntime(io, options);
  try {
    return await body(runtime);
  } finally {
    await runtime.close();
  }
}
