import { createReadStream, createWriteStream } from "node:fs";
import { resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import type pg from "pg";
import { from as copyFrom, to as copyTo } from "pg-copy-streams";
import { bulkrun, readyOn } from "./processes.ts";

/** One side-by-side measurement: bulkrun against the plain set-based statement, in rows/s. */
export interface Versus {
  name: string;
  plain: { rows: number; seconds: number };
  bulkrun: { rows: number; seconds: number };
}

/** Writes every user's email with new name, phone and status, as a users.update CSV. */
async function writeUpdateCsv(pool: pg.Pool, path: string, label: string, status: string): Promise<void> {
  const client = await pool.connect();
  try {
    await pipeline(
      client.query(copyTo(`copy (select email, '${label} ' || coalesce(name, '') as name,
        '+1${label === "A" ? 555 : 666}' || lpad((id % 10000000)::text, 7, '0') as phone, '${status}' as status
        from bulkrun.users) to stdout with (format csv, header)`)),
      createWriteStream(path),
    );
  } finally {
    client.release();
  }
}

async function timed(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<number>): Promise<{ seconds: number; rows: number }> {
  const client = await pool.connect();
  try {
    const started = performance.now();
    const rows = await work(client);
    return { seconds: (performance.now() - started) / 1000, rows };
  } finally {
    client.release();
  }
}

/** Seconds and rows of the newest action, from its insert to its completion. */
export async function lastActionSeconds(pool: pg.Pool): Promise<{ seconds: number; rows: number }> {
  const { rows } = await pool.query(
    "select extract(epoch from finished_at - created_at)::float8 as seconds, total as rows from bulkrun.bulk_actions order by id desc limit 1",
  );
  return { seconds: rows[0].seconds, rows: Number(rows[0].rows) };
}

/**
 * On the users an import left: a CSV-keyed update of every user (name, phone, status), then a
 * filter delete of half of them — each beside the plain statement doing the same change on the
 * same data (staged with COPY from the same kind of file, for the update).
 */
export async function updateAndDelete(pool: pg.Pool, url: string, work: string): Promise<Versus[]> {
  const [plainCsv, bulkrunCsv] = [resolve(work, "update-a.csv"), resolve(work, "update-b.csv")];
  await writeUpdateCsv(pool, plainCsv, "A", "inactive");
  await writeUpdateCsv(pool, bulkrunCsv, "B", "archived");
  const account = (await pool.query("select id from bulkrun.accounts where name = 'bench'")).rows[0].id;
  await pool.query("checkpoint");
  const plainUpdate = await timed(pool, async (client) => {
    await client.query("create temp table stage (email text, name text, phone text, status text)");
    await pipeline(createReadStream(plainCsv), client.query(copyFrom("copy stage from stdin with (format csv, header)")));
    const result = await client.query(
      `update bulkrun.users u set name = s.name, phone = s.phone, status = s.status, updated_at = now()
         from stage s where u.account_id = $1 and lower(u.email) = lower(s.email)`,
      [account],
    );
    await client.query("drop table stage");
    return result.rowCount ?? 0;
  });
  const worker = bulkrun(["worker"], url);
  await readyOn(worker, /running \(pid/);
  try {
    await pool.query("checkpoint");
    const updated = await bulkrun(["update", bulkrunCsv, "--account", "bench", "--wait"], url).done;
    if (updated.code !== 0) throw new Error(`update failed:\n${updated.stderr}`);
    const bulkrunUpdate = await lastActionSeconds(pool);
    const { rows: [{ middle }] } = await pool.query("select percentile_disc(0.5) within group (order by id) as middle from bulkrun.users");
    await pool.query("checkpoint");
    const plainDelete = await timed(pool, async (client) => {
      const result = await client.query("delete from bulkrun.users where account_id = $1 and id < $2", [account, middle]);
      return result.rowCount ?? 0;
    });
    await pool.query("checkpoint");
    const deleted = await bulkrun(["delete", "--where", JSON.stringify({ id: { gt: Number(middle) - 1 } }), "--account", "bench", "--wait"], url).done;
    if (deleted.code !== 0) throw new Error(`delete failed:\n${deleted.stderr}`);
    const bulkrunDelete = await lastActionSeconds(pool);
    return [
      { name: "users.update, CSV keyed by email, 3 fields", plain: plainUpdate, bulkrun: bulkrunUpdate },
      { name: "users.delete, filter on id (half the users)", plain: plainDelete, bulkrun: bulkrunDelete },
    ];
  } finally {
    worker.child.kill("SIGTERM");
    await worker.done;
  }
}
