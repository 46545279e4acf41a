import { readdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { runMigrations } from "graphile-worker";
import type pg from "pg";
import { BulkrunError } from "../errors.ts";
import type { AnyAction } from "../plugin.ts";

const SQL_DIR = resolve(import.meta.dirname, "../../sql");
const MIGRATION_FILE = /^(\d{6})_[a-z0-9_]+\.sql$/;
// Any constant will do; every bulkrun process that migrates takes the same lock.
const MIGRATION_LOCK = 7_311_042;

export interface MigrationResult {
  applied: string[];
}

/** A folder of numbered migrations and the name their progress is kept under. */
interface MigrationSet {
  source: string;
  dir: string;
}

/**
 * Installs Graphile Worker's schema, then applies the numbered files of sql/ that this database
 * has not seen, in order, each in its own transaction, then those each plugin ships (its
 * `migrations` folder). Safe when several processes start at once: they queue on an advisory
 * lock and the later ones find nothing left to do.
 */
export async function migrate(pool: pg.Pool, plugins: readonly AnyAction[] = []): Promise<MigrationResult> {
  await runMigrations({ pgPool: pool, logger: undefined });
  const sets: MigrationSet[] = [
    { source: "bulkrun", dir: SQL_DIR },
    ...plugins.flatMap((p) => (p.migrations ? [{ source: p.name, dir: p.migrations }] : [])),
  ];
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query("select pg_advisory_lock($1)", [MIGRATION_LOCK]);
    await client.query(`
      create schema if not exists bulkrun_private;
      create table if not exists bulkrun_private.migrations (
        source text not null, id integer not null, name text not null,
        applied_at timestamptz not null default now(), primary key (source, id))`);
    for (const set of sets) applied.push(...(await applySet(client, set)));
  } finally {
    await client.query("select pg_advisory_unlock($1)", [MIGRATION_LOCK]).catch(() => {});
    client.release();
  }
  return { applied };
}

async function applySet(client: pg.PoolClient, { source, dir }: MigrationSet): Promise<string[]> {
  const files = (await readdir(dir)).filter((f) => MIGRATION_FILE.test(f)).sort();
  const { rows } = await client.query<{ id: number }>("select id from bulkrun_private.migrations where source = $1", [source]);
  const done = new Set(rows.map((r) => r.id));
  const applied: string[] = [];
  for (const file of files) {
    const id = Number(file.slice(0, 6));
    if (done.has(id)) continue;
    const sql = await readFile(join(dir, file), "utf8");
    try {
      await client.query("begin");
      // Recorded first, so a second process that got here too would fail on the key, not re-run it.
      await client.query("insert into bulkrun_private.migrations (source, id, name) values ($1, $2, $3)", [source, id, file]);
      await client.query(sql);
      await client.query("commit");
    } catch (cause) {
      await client.query("rollback");
      throw new BulkrunError("BULKRUN_ERR_MIGRATION", `migration ${source}/${file} failed: ${(cause as Error).message}`, { cause });
    }
    applied.push(source === "bulkrun" ? file : `${source}/${file}`);
  }
  return applied;
}
