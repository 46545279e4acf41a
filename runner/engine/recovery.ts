import type { Knex } from "knex";
import { APPLICATION_NAME, type Database } from "../db/database.ts";
import type { EngineContext } from "./context.ts";
import { endExhaustedJobs } from "./exhausted.ts";

/**
 * Crash recovery. Graphile Worker releases the jobs of a process that died (kill -9, a lost
 * machine) only after their 4-hour lock timeout. Every runner heartbeats (heartbeat.ts); the
 * sweeper of any live runner finds the ones whose beats stopped, releases their locked jobs with
 * `graphile_worker.force_unlock_workers`, and marks them dead, so a crash costs seconds. A job
 * released on its last attempt has none left: the sweeper then ends its chunk (or action) as
 * failed (exhausted.ts).
 * Releasing a job whose process is in fact still running (it only paused) is safe: its chunk
 * row is locked by that process's transaction, so the new run waits for it and then finds the
 * chunk done, or applies it if that transaction rolled back.
 */
export interface Sweeper {
  /** Stops looking; resolves once a sweep in progress has finished. */
  stop(): Promise<void>;
}

export interface SweeperOptions {
  /** This runner's id (its pool id): a runner never declares itself dead. */
  self: string;
  /** Time between sweeps, in ms. */
  intervalMs: number;
  /** A runner whose last beat is older than this is dead. */
  deadAfterMs: number;
}

/** A runner that was declared dead, and how many jobs it held. */
export interface RecoveredRunner {
  id: string;
  pid: number;
  host: string;
  silent_ms: number;
  jobs: number;
}

/** Rows of dead runners are kept this long for `bulkrun status`, then removed. */
const KEEP_DEAD_FOR = "7 days";

/** Sweeps at once (a restarted runner frees what its previous life held), then every `intervalMs`. */
export function startSweeper(ctx: EngineContext, options: SweeperOptions): Sweeper {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void>;
  let failing = false;
  const sweep = async () => {
    try {
      for (const dead of await recoverDeadRunners(ctx.db.knex, options.self, options.deadAfterMs)) {
        ctx.log(
          `runner ${dead.id} (pid ${dead.pid} on ${dead.host}) missed its beats for ${(dead.silent_ms / 1000).toFixed(1)} s: ` +
            `declared dead, ${dead.jobs} locked job${dead.jobs === 1 ? "" : "s"} released to run again`,
        );
      }
      const ended = await endExhaustedJobs(ctx);
      for (const chunk of ended.chunks) ctx.log(`chunk ${chunk}: its runner stopped during its last attempt; its rows are marked chunk_failed`);
      for (const action of ended.actions) ctx.log(`action ${action}: its runner stopped during the last attempt to prepare it; the action failed`);
      failing = false;
    } catch (error) {
      if (!failing) ctx.log(`looking for dead runners and abandoned jobs failed (trying again): ${(error as Error).message}`);
      failing = true;
    }
    if (!stopped) {
      timer = setTimeout(() => (running = sweep()), options.intervalMs);
      timer.unref();
    }
  };
  running = sweep();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

/**
 * One sweep: declares dead every other runner silent for `deadAfterMs` and releases its jobs, in
 * one transaction. `skip locked` lets any number of runners sweep at once: each dead runner is
 * recovered by exactly one of them.
 */
export async function recoverDeadRunners(db: Knex, self: string, deadAfterMs: number): Promise<RecoveredRunner[]> {
  return db.transaction(async (trx) => {
    await trx.raw(`delete from bulkrun_private.runners where dead_at < now() - interval '${KEEP_DEAD_FOR}'`);
    const { rows } = await trx.raw<{ rows: Omit<RecoveredRunner, "jobs">[] }>(
      `select id, pid, host, (extract(epoch from now() - last_beat_at) * 1000)::bigint as silent_ms
         from bulkrun_private.runners
        where dead_at is null and id <> ? and last_beat_at < now() - make_interval(secs => ?)
        order by id
          for update skip locked`,
      [self, deadAfterMs / 1000],
    );
    if (rows.length === 0) return [];
    const jobs = await release(trx, rows.map((r) => r.id), self);
    return rows.map((row) => ({ ...row, jobs: jobs.get(row.id) ?? 0 }));
  });
}

/**
 * Declares dead a runner of this process whose worker pool stopped by itself, and releases the
 * jobs it still holds (say, one it could not mark completed). Its tasks have ended by then, or
 * run past the grace period: a chunk one of them still applies keeps its row lock, so a new run
 * waits for it.
 */
export async function releaseStoppedPool(db: Knex, id: string): Promise<number> {
  return db.transaction(async (trx) => (await release(trx, [id], id)).get(id) ?? 0);
}

/** Releases whatever jobs a pool of this process still holds, once that pool has stopped. */
export async function releaseJobs(db: Knex, poolId: string): Promise<void> {
  await db.raw("select graphile_worker.force_unlock_workers(?::text[])", [[poolId]]);
}

async function release(trx: Knex.Transaction, ids: string[], by: string): Promise<Map<string, number>> {
  const { rows } = await trx.raw<{ rows: { locked_by: string; n: number }[] }>(
    "select locked_by, count(*)::int as n from graphile_worker.jobs where locked_by = any(?::text[]) group by locked_by",
    [ids],
  );
  await trx.raw("select graphile_worker.force_unlock_workers(?::text[])", [ids]);
  await trx.raw("update bulkrun_private.runners set dead_at = now(), recovered_by = ? where id = any(?::text[])", [by, ids]);
  return new Map(rows.map((r) => [r.locked_by, r.n]));
}

/**
 * Ends this process's own open transactions (those of jobs a forceful shutdown gave up on) by
 * closing their connections: Postgres rolls them back, so nothing stays half-done or locked.
 * Returns how many were ended.
 */
export async function endOwnTransactions(db: Database): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    `select count(*) filter (where pg_terminate_backend(pid))::int as n from pg_stat_activity
      where application_name = $1 and datname = current_database() and pid <> pg_backend_pid() and state <> 'idle'`,
    [APPLICATION_NAME],
  );
  return rows[0]!.n;
}
