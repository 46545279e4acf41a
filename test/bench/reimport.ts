import { createWriteStream } from "node:fs";
import { resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import type pg from "pg";
import { to as copyTo } from "pg-copy-streams";
import { bulkrun, readyOn } from "./processes.ts";
import { lastActionSeconds, type Versus } from "./update-delete.ts";

/** Every user of the account under a new name, as an import CSV. */
async function writeChangedCsv(pool: pg.Pool, path: string): Promise<void> {
  const client = await pool.connect();
  try {
    await pipeline(
      client.query(copyTo(`copy (select 'Renamed ' || coalesce(name, '') as name, email, phone from bulkrun.users order by id)
        to stdout with (format csv, header)`)),
      createWriteStream(path),
    );
  } finally {
    client.release();
  }
}

/**
 * On the users the last import run left: the same file imported again (every row unchanged: no
 * writes but the ledger), then every user renamed, each beside the run's COPY of the clean rows.
 */
export async function reimports(pool: pg.Pool, url: string, work: string, csv: string, copy: Versus["plain"]): Promise<Versus[]> {
  const changed = resolve(work, "users-renamed.csv");
  await writeChangedCsv(pool, changed);
  const worker = bulkrun(["worker"], url);
  await readyOn(worker, /running \(pid/);
  try {
    const results: Versus[] = [];
    for (const [name, file] of [["users.import again, the same file (all unchanged)", csv], ["users.import, every user renamed", changed]] as const) {
      await pool.query("checkpoint");
      const run = await bulkrun(["import", file, "--account", "bench", "--wait"], url).done;
      if (run.code !== 0) throw new Error(`re-import failed:\n${run.stderr}`);
      results.push({ name, plain: copy, bulkrun: await lastActionSeconds(pool) });
    }
    return results;
  } finally {
    worker.child.kill("SIGTERM");
    await worker.done;
  }
}
