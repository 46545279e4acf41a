import { hostname } from "node:os";
import type { Knex } from "knex";

/** How a runner process shows it is alive: a row it refreshes every few seconds. */
export interface Heartbeat {
  /** Stops beating and removes the row: a runner that stopped cleanly holds nothing. */
  stop(): Promise<void>;
  /**
   * Stops beating but keeps the row, for a runner that could not stop cleanly: once its beats
   * are older than `deadAfterMs`, a live runner releases whatever it still holds (recovery.ts).
   */
  halt(): Promise<void>;
}

export interface HeartbeatOptions {
  /** @default 5000 */
  intervalMs?: number;
  log?: (line: string) => void;
}

// Beating again after being declared dead (a long pause, a lost network) clears dead_at, and
// says so: the jobs this runner held were handed to others meanwhile.
const BEAT = `with previous as (select dead_at from bulkrun_private.runners where id = ?)
  insert into bulkrun_private.runners (id, pid, host, roles) values (?, ?, ?, ?)
  on conflict (id) do update set last_beat_at = now(), dead_at = null, recovered_by = null
  returning (select dead_at from previous) as was_dead_at`;

/** Registers this process (with its Graphile Worker pool id) and keeps its row fresh. */
export async function startHeartbeat(db: Knex, id: string, roles: string[], options: HeartbeatOptions = {}): Promise<Heartbeat> {
  const log = options.log ?? (() => {});
  const beat = async () => {
    const { rows } = await db.raw<{ rows: { was_dead_at: Date | null }[] }>(BEAT, [id, id, process.pid, hostname(), roles]);
    const wasDeadAt = rows[0]?.was_dead_at;
    if (wasDeadAt) {
      log(`runner ${id} missed its beats and was declared dead at ${wasDeadAt.toISOString()}; its jobs were released to other runners`);
    }
  };
  await beat();
  let failing = false;
  // One beat at a time, awaited on stop: a beat landing after the delete would bring the row back.
  let beating: Promise<void> | undefined;
  const timer = setInterval(() => {
    beating ??= beat()
      .then(
        () => {
          if (failing) log(`heartbeat of runner ${id} recorded again`);
          failing = false;
        },
        (error: Error) => {
          if (!failing) log(`heartbeat of runner ${id} failed (retrying): ${error.message}`);
          failing = true;
        },
      )
      .finally(() => (beating = undefined));
  }, options.intervalMs ?? 5000);
  timer.unref();
  const halt = async () => {
    clearInterval(timer);
    await beating;
  };
  return {
    async stop() {
      await halt();
      await db.raw("delete from bulkrun_private.runners where id = ?", [id]);
    },
    halt,
  };
}

/** A runner process as `bulkrun status` shows it. */
export interface RunnerRow {
  id: string;
  pid: number;
  host: string;
  roles: string[];
  started_at: Date;
  last_beat_at: Date;
  /** Milliseconds since the last beat, by the database's clock. */
  silent_ms: number;
  dead_at: Date | null;
  recovered_by: string | null;
  /** Beat within `deadAfterMs` and not declared dead. */
  alive: boolean;
}

/** Every runner process on record, live ones first. */
export async function listRunners(db: Knex, deadAfterMs: number): Promise<RunnerRow[]> {
  const { rows } = await db.raw<{ rows: RunnerRow[] }>(
    `select id, pid, host, roles, started_at, last_beat_at, dead_at, recovered_by,
            (extract(epoch from now() - last_beat_at) * 1000)::bigint as silent_ms,
            dead_at is null and last_beat_at > now() - make_interval(secs => ?) as alive
       from bulkrun_private.runners
      order by alive desc, started_at, id`,
    [deadAfterMs / 1000],
  );
  return rows;
}

/** How many runner processes are alive: beat within `deadAfterMs` and not declared dead. */
export async function liveRunners(db: Knex, deadAfterMs = 30_000): Promise<number> {
  const { rows } = await db.raw<{ rows: { n: number }[] }>(
    `select count(*)::int as n from bulkrun_private.runners
      where dead_at is null and last_beat_at > now() - make_interval(secs => ?)`,
    [deadAfterMs / 1000],
  );
  return rows[0]!.n;
}
