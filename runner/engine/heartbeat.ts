import { hostname } from "node:os";
import type { Knex } from "knex";

/** How a runner process shows it is alive: a row it refreshes every few seconds. */
export interface Heartbeat {
  stop(): Promise<void>;
}

/** Registers this process (with its Graphile Worker pool id) and keeps its row fresh. */
export async function startHeartbeat(db: Knex, id: string, roles: string[], intervalMs = 5000): Promise<Heartbeat> {
  await db.raw(
    `insert into bulkrun_private.runners (id, pid, host, roles) values (?, ?, ?, ?)
     on conflict (id) do update set last_beat_at = now()`,
    [id, process.pid, hostname(), roles],
  );
  const timer = setInterval(() => {
    db.raw("update bulkrun_private.runners set last_beat_at = now() where id = ?", [id]).catch(() => {});
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await db.raw("delete from bulkrun_private.runners where id = ?", [id]);
    },
  };
}

/** How many runner processes beat within the last `withinSeconds`. */
export async function liveRunners(db: Knex, withinSeconds = 30): Promise<number> {
  const { rows } = await db.raw<{ rows: { n: number }[] }>(
    "select count(*)::int as n from bulkrun_private.runners where last_beat_at > now() - make_interval(secs => ?)",
    [withinSeconds],
  );
  return rows[0]!.n;
}
