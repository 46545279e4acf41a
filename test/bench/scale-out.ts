import type pg from "pg";
import { bulkrun, readyOn } from "./processes.ts";
import { lastActionSeconds } from "./update-delete.ts";

/** One import run by several worker processes, with what a reviewer checks afterwards. */
export interface ScaleOutRun {
  processes: number;
  rowsPerSecond: number;
  /** Chunks each process applied, by its pool. */
  chunksPerProcess: number[];
  counters: string;
  /** Users written, distinct emails among them, ledger rows without an outcome, chunks applied more than once. */
  check: { users: number; distinctEmails: number; pendingRows: number; chunksRetried: number };
}

/**
 * The same import with 1, 2, ... `most` `bulkrun worker` processes on one Postgres, each from
 * empty tables: rows/s, how the chunks spread over the processes, and the checks that show nothing
 * was lost or applied twice.
 */
export async function scaleOut(pool: pg.Pool, url: string, csv: string, most: number, reset: () => Promise<void>): Promise<ScaleOutRun[]> {
  const runs: ScaleOutRun[] = [];
  for (let processes = 1; processes <= most; processes++) {
    await reset();
    const workers = Array.from({ length: processes }, () => bulkrun(["worker"], url));
    try {
      await Promise.all(workers.map((w) => readyOn(w, /running \(pid/)));
      const imported = await bulkrun(["import", csv, "--account", "bench", "--wait"], url).done;
      if (imported.code !== 0) throw new Error(`import failed:\n${imported.stderr}`);
    } finally {
      for (const w of workers) w.child.kill("SIGTERM");
      await Promise.all(workers.map((w) => w.done));
    }
    const { seconds, rows } = await lastActionSeconds(pool);
    const { rows: spread } = await pool.query<{ n: number }>(
      "select count(*)::int as n from bulkrun.bulk_action_chunks group by worker order by n desc",
    );
    const { rows: [check] } = await pool.query(
      `select (select count(*)::int from bulkrun.users) as users,
              (select count(distinct lower(email))::int from bulkrun.users) as "distinctEmails",
              (select count(*)::int from bulkrun.bulk_action_items where status = 'pending') as "pendingRows",
              (select count(*)::int from bulkrun.bulk_action_chunks where attempts > 1 or status <> 'done') as "chunksRetried",
              (select format('%s created, %s skipped, %s failed', to_char(created, 'FM999,999,999'), to_char(skipped, 'FM999,999,999'), to_char(failed, 'FM999,999,999')) from bulkrun.bulk_actions) as counters`,
    );
    const { counters, ...checked } = check;
    runs.push({ processes, rowsPerSecond: rows / seconds, chunksPerProcess: spread.map((s) => s.n), counters, check: checked });
  }
  return runs;
}
