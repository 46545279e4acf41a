import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import pg from "pg";
import { guardPool } from "../../runner/db/database.ts";
import { startEmbedded, type EmbeddedServer } from "../../runner/db/embedded.ts";
import { migrate } from "../../runner/db/migrate.ts";

const SQL_DIR = resolve(import.meta.dirname, "../../sql");
const DATA_DIR = resolve(import.meta.dirname, "../../.bulkrun/test-pgdata");
// Any constant: test runs building a template queue on it.
const TEMPLATE_LOCK = 7_311_043;

/**
 * The migrated database every test database is cloned from, named after the migrations it holds:
 * test runs of the same tree share it, and a changed migration gets a template of its own.
 */
export const TEMPLATE = `bulkrun_test_${createHash("sha256")
  .update(readdirSync(SQL_DIR).sort().map((f) => f + readFileSync(resolve(SQL_DIR, f), "utf8")).join("\n"))
  .update(readFileSync(resolve(import.meta.dirname, "../../runner/db/migrate.ts")))
  .digest("hex")
  .slice(0, 12)}`;

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

/** Builds the template unless it exists; it appears under its name only once fully migrated. */
export async function createTemplate(serverUrl: string): Promise<void> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query("select pg_advisory_lock($1)", [TEMPLATE_LOCK]);
    const { rowCount } = await admin.query("select 1 from pg_database where datname = $1", [TEMPLATE]);
    if (rowCount) return;
    const building = `${TEMPLATE}_building`;
    await admin.query(`drop database if exists ${building} with (force)`);
    await admin.query(`create database ${building}`);
    const pool = guardPool(new pg.Pool({ connectionString: withDatabase(serverUrl, building), max: 2 }), console.error);
    try {
      await migrate(pool);
    } finally {
      await pool.end();
    }
    await admin.query(`alter database ${building} rename to ${TEMPLATE}`);
  } finally {
    await admin.end();
  }
}
