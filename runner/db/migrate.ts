import { readdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { runMigrations } from "graphile-worker";
import type pg from "pg";
import { BulkrunError } from "../errors.ts";

const SQL_DIR = resolve(import.meta.dirname, "../../sql");
const MIGRATION_FILE = /^(\d{6})_[a-z0-9_]+\.sql$/;
// Any constant will do; every bulkrun process that migrates takes the same lock.
const MIGRATION_LOCK = 7_311_042;

export interface MigrationResult {
  applied: string[];
}

/**
 * Installs Graphile Worker's schema, then applies the numbered files of sql/ that this database
 * has not seen, in order, each in its own transaction. Safe when several processes start at once:
 * they queue on an advisory lock and the later ones find nothing left to do.
 */
export async function migrate(pool: pg.Pool): Promise<MigrationResult> {
  await runMigrations({ pgPool: pool, logger: undefined });
  const files = (await readdir(SQL_DIR)).filter((f) => MIGRATION_FILE.test(f)).sort();
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query("select pg_advisory_lock($1)", [MIGRATION_LOCK]);
    await client.query(`
      create schema if not exists bulkrun_private;
      create table if not exists bulkrun_private.migrations (
        id integer primary key, name text not null, applied_at timestamptz not null default now())`);
    const done = new Set((await client.query<{ id: number }>("select id from bulkrun_private.migrations")).rows.map((r) => r.id));
    for (const file of files) {
      const id = Number(file.slice(0, 6));
      if (done.has(id)) continue;
      const sql = await readFile(join(SQL_DIR, file), "utf8");
      try {
        await client.query("begin");
        await client.query("insert into bulkrun_private.migrations (id, name) values ($1, $2)", [id, file]);
        await client.query(sql);
        await client.query("commit");
      } catch (cause) {
        await client.query("rollback");
        throw new BulkrunError("BULKRUN_ERR_MIGRATION", `migration ${file} failed: ${(cause as Error).message}`, { cause });
      }
      applied.push(file);
    }
  } finally {
    await client.query("select pg_advisory_unlock($1)", [MIGRATION_LOCK]).catch(() => {});
    client.release();
  }
  return { applied };
}
