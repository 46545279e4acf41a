import type pg from "pg";
import { resolveConfig } from "../../runner/config.ts";
import { openDatabase } from "../../runner/db/database.ts";
import type { EngineContext } from "../../runner/engine/context.ts";
import { EngineEvents } from "../../runner/engine/events.ts";
import { startWorker } from "../../runner/worker.ts";
import config from "../../runner.config.ts";

/** Latency of 1-row actions started from SQL, and the engine's own time per chunk. */
export interface Responsiveness {
  latencyMs: { runs: number; p50: number; p95: number; max: number };
  chunks: { count: number; rowsPerChunk: number; pluginMs: number; inTransactionMs: number; perChunkMs: number };
}

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
const mean = (xs: number[]) => xs.reduce((sum, x) => sum + x, 0) / xs.length;

/** A function that resolves once the runner has reported the action finished (before or after the call). */
function finishedActions(ctx: EngineContext): (id: number) => Promise<void> {
  const finished = new Set<number>();
  const waiting = new Map<number, () => void>();
  ctx.events.on("action:finished", ({ actionId }) => {
    finished.add(actionId);
    waiting.get(actionId)?.();
  });
  return (id) => (finished.has(id) ? Promise.resolve() : new Promise((resolve) => waiting.set(id, resolve)));
}

/** Inserts an import from SQL, as psql would, and resolves with its id once it finished. */
async function sqlImport(pool: pg.Pool, finished: (id: number) => Promise<void>, rows: Record<string, string>[], chunkSize: number): Promise<number> {
  const { rows: [action] } = await pool.query<{ id: string }>(
    `insert into bulkrun.bulk_actions (account_id, type, source, chunk_size)
     select id, 'users.import', $1, $2 from bulkrun.accounts where name = 'bench-latency' returning id`,
    [{ rows }, chunkSize],
  );
  const id = Number(action!.id);
  await finished(id);
  return id;
}

/**
 * On an idle runner in this process (the project's configuration, default worker slots): the time
 * from the insert of a 1-row import to its status `completed`, by the server's clock, `runs`
 * times; then one import cut into `chunks` chunks of 10 rows, with the time per chunk that is not
 * spent in the plugin's statement.
 */
export async function measureResponsiveness(pool: pg.Pool, url: string, runs: number, chunks: number): Promise<Responsiveness> {
  const resolved = resolveConfig(config, { DATABASE_URL: url });
  const ctx: EngineContext = { db: await openDatabase(resolved), config: resolved, events: new EngineEvents(), log: () => {} };
  await pool.query("delete from bulkrun.users where account_id in (select id from bulkrun.accounts where name = 'bench-latency')");
  await pool.query("insert into bulkrun.accounts (name) values ('bench-latency') on conflict (name) do update set rate_limit_per_minute = null");
  const finished = finishedActions(ctx);
  const worker = await startWorker(ctx);
  try {
    const latencies: number[] = [];
    for (let i = 0; i < runs; i++) {
      const id = await sqlImport(pool, finished, [{ name: `Latency ${i}`, email: `latency-${i}@example.com` }], 1);
      const { rows: [timing] } = await pool.query<{ ms: number }>(
        "select extract(epoch from finished_at - created_at)::float8 * 1000 as ms from bulkrun.bulk_actions where id = $1 and status = 'completed'",
        [id],
      );
      latencies.push(timing!.ms);
    }
    const commits: { durationMs: number; pluginMs: number }[] = [];
    ctx.events.on("chunk:commit", (commit) => commits.push(commit));
    const rowsPerChunk = 10;
    const rows = Array.from({ length: chunks * rowsPerChunk }, (_, i) => ({ name: `Overhead ${i}`, email: `overhead-${i}@example.com` }));
    const id = await sqlImport(pool, finished, rows, rowsPerChunk);
    const { rows: [span] } = await pool.query<{ ms: number }>(
      `select extract(epoch from a.finished_at - min(c.started_at))::float8 * 1000 as ms
         from bulkrun.bulk_actions a join bulkrun.bulk_action_chunks c on c.action_id = a.id where a.id = $1 group by a.finished_at`,
      [id],
    );
    const pluginMs = mean(commits.map((c) => c.pluginMs));
    return {
      latencyMs: { runs, p50: percentile(latencies, 0.5), p95: percentile(latencies, 0.95), max: Math.max(...latencies) },
      chunks: {
        count: commits.length,
        rowsPerChunk,
        pluginMs,
        inTransactionMs: mean(commits.map((c) => c.durationMs)) - pluginMs,
        perChunkMs: (span!.ms * resolved.worker.concurrency) / commits.length - pluginMs,
      },
    };
  } finally {
    await worker.stop();
    await ctx.db.close();
  }
}
