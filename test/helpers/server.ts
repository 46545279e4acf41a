import { resolve } from "node:path";
import pg from "pg";
import { guardPool } from "../../runner/db/database.ts";
import { startEmbedded, type EmbeddedServer } from "../../runner/db/embedded.ts";
import { migrate } from "../../runner/db/migrate.ts";

export const TEMPLATE = "bulkrun_test_template";
const DATA_DIR = resolve(import.meta.dirname, "../../.bulkrun/test-pgdata");

/**
 * The server the tests use: DATABASE_URL when set, else an embedded Postgres of the tests' own
 * (started by the global setup and joined by every test file through its postmaster.pid).
 */
export async function testServer(): Promise<EmbeddedServer> {
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL, owned: false, stop: async () => {} };
  return startEmbedded(DATA_DIR, (line) => console.error(line));
}

/** Replaces the database name of a connection string. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** Builds the template every test database is cloned from, migrated once per run. */
export async function createTemplate(serverUrl: string): Promise<void> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`drop database if exists ${TEMPLATE} with (force)`);
    await admin.query(`create database ${TEMPLATE}`);
  } finally {
    await admin.end();
  }
  const pool = guardPool(new pg.Pool({ connectionString: withDatabase(serverUrl, TEMPLATE), max: 2 }), console.error);
  try {
    await migrate(pool);
  } finally {
    await pool.end();
  }
}
