import { hostname } from "node:os";
import knexFactory, { type Knex } from "knex";
import pg from "pg";
import type { ResolvedConfig } from "../config.ts";
import { BulkrunError } from "../errors.ts";
import { startEmbedded } from "./embedded.ts";

// bigint counters and ids fit in a JS number for any table bulkrun will see.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

/**
 * How this process's connections are named in pg_stat_activity: a runner stopping forcefully ends
 * exactly its own open transactions, and an operator sees which process holds what.
 * (Postgres keeps 63 bytes of it; the pid comes first so that it survives.)
 */
export const APPLICATION_NAME = `bulkrun ${process.pid} ${hostname()}`.slice(0, 63);

/** Connections to the one Postgres that bulkrun keeps all its state in. */
export interface Database {
  url: string;
  /** Query builder and transactions for the engine and plugins. */
  knex: Knex;
  /** Plain pool for Graphile Worker, LISTEN and COPY. */
  pool: pg.Pool;
  close(): Promise<void>;
}

export interface OpenOptions {
  log?: (line: string) => void;
  /** Most connections of each pool. @default 10 */
  poolSize?: number;
}

const CLOSE_WAIT_MS = 5000;

/** Connects to DATABASE_URL, or to the embedded Postgres (starting it when needed). */
export async function openDatabase(config: ResolvedConfig, options: OpenOptions = {}): Promise<Database> {
  let closing = false;
  const report = options.log ?? (() => {});
  // Connections still draining when we stop our own embedded server are expected to drop.
  const log = (line: string) => {
    if (!closing) report(line);
  };
  const embedded = config.database.url ? undefined : await startEmbedded(config.database.dataDir, log);
  const url = config.database.url ?? embedded!.url;
  const size = options.poolSize ?? 10;
  const pool = guardPool(new pg.Pool({ connectionString: url, max: size, application_name: APPLICATION_NAME }), log);
  try {
    const client = await pool.connect();
    client.release();
  } catch (cause) {
    await pool.end();
    await embedded?.stop();
    throw new BulkrunError("BULKRUN_ERR_DB_UNREACHABLE", `cannot connect to ${redact(url)}: ${(cause as Error).message}`, { cause });
  }
  const knex = knexFactory({ client: "pg", connection: { connectionString: url, application_name: APPLICATION_NAME }, pool: { min: 0, max: size } });
  return {
    url,
    knex,
    pool,
    async close() {
      closing = true;
      await knex.destroy();
      // pool.end() waits for every checked-out client; one held by a worker pool that gave up
      // (Graphile Worker 0.18 can leave its shutdown hanging) must not keep the process alive.
      await Promise.race([pool.end(), new Promise((resolve) => setTimeout(resolve, CLOSE_WAIT_MS).unref())]);
      await embedded?.stop();
    },
  };
}

/** A dropped connection must never crash the process: log it; the pool replaces the client. */
export function guardPool(pool: pg.Pool, log: (line: string) => void): pg.Pool {
  pool.on("error", (error) => log(`database connection lost: ${error.message}`));
  pool.on("connect", (client) => client.on("error", (error) => log(`database connection error: ${error.message}`)));
  return pool;
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "the database URL";
  }
}
