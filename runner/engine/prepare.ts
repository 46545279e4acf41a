import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import { BulkrunError, isBulkrunError, type ErrorCode } from "../errors.ts";
import { byOptions, type AnyAction, type AnyOptions } from "../plugin.ts";
import { findAction, transitionAction, type ActionRow } from "./actions.ts";
import type { EngineContext } from "./context.ts";
import type { CsvReader } from "./csv.ts";
import { csvInput, ingestRows } from "./ingest.ts";
import { actionOptions } from "./options.ts";
import { enqueueChunks, planChunks } from "./plan.ts";
import { snapshotFilter } from "./snapshot.ts";
import { inlineReader, openUrl, parseSource } from "./source.ts";

/**
 * The prepare job: stages the action's source into the ledger (unless the CLI already did),
 * counts it, cuts it into chunks and enqueues them, all in one transaction, so a crash leaves
 * nothing half-staged and the job can simply run again.
 *
 * A bad action (unknown type, bad options, a bad file, a URL that stays unavailable) fails at
 * once with its reason; other errors are retried and fail the action only on the last attempt.
 */
export async function prepareAction(ctx: EngineContext, actionId: number, lastAttempt: boolean): Promise<void> {
  const action = await findAction(ctx.db.knex, actionId);
  if (!action || !["scheduled", "queued", "preparing"].includes(action.status)) return;
  try {
    const plugin = pluginFor(ctx, action.type);
    const options = actionOptions(plugin, action.options);
    await transitionAction(ctx.db.knex, actionId, "preparing");
    await retryingUrl(ctx, actionId, () => stageAndPlan(ctx, action, plugin, options));
  } catch (error) {
    const final = isBulkrunError(error) || lastAttempt;
    if (!final) throw error;
    const code = isBulkrunError(error) ? error.code : "BULKRUN_ERR_SOURCE";
    await failPreparation(ctx, actionId, { code, message: (error as Error).message });
  }
}

/**
 * Fails the action if it still waits to be prepared or is being prepared; returns whether it did.
 * One cancelled meanwhile stays cancelled, and one that another run of its prepare job got going
 * (its runner was taken for dead while it only stalled) keeps running.
 */
export async function failPreparation(ctx: EngineContext, actionId: number, error: { code: ErrorCode; message: string }): Promise<boolean> {
  const failed = await ctx.db.knex.transaction(async (trx) => {
    const { rows } = await trx.raw<{ rows: unknown[] }>(
      "select 1 from bulkrun.bulk_actions where id = ? and status in ('scheduled', 'queued', 'preparing') for update",
      [actionId],
    );
    if (rows.length === 0) return false;
    await transitionAction(trx, actionId, "failed", error);
    return true;
  });
  if (failed) ctx.events.emit("action:finished", { actionId, status: "failed" });
  return failed;
}

/**
 * Runs `attempt` again while the source URL is unavailable: `sources.urlAttempts` tries in all,
 * `sources.urlRetryDelayMs` apart, doubling. The retries happen inside this run of the prepare
 * job, not as job retries: the SQL trigger enqueues the job with Graphile Worker's own backoff
 * (e^n seconds, not configurable per job), and its attempts stay for crashes and database
 * errors. Each attempt stages in one transaction, so a failed one leaves no ledger rows and no
 * counts behind.
 */
async function retryingUrl(ctx: EngineContext, actionId: number, attempt: () => Promise<void>): Promise<void> {
  const { urlAttempts, urlRetryDelayMs } = ctx.config.sources;
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (!isBulkrunError(error, "BULKRUN_ERR_URL_UNAVAILABLE")) throw error;
      if (n >= urlAttempts) {
        throw new BulkrunError(error.code, `${error.message} (gave up after ${n} ${n === 1 ? "attempt" : "attempts"})`, { cause: error });
      }
      const delay = urlRetryDelayMs * 2 ** (n - 1);
      ctx.log(`action ${actionId}: ${error.message}; attempt ${n + 1} of ${urlAttempts} in ${delay} ms`);
      await sleep(delay);
    }
  }
}

export function pluginFor(ctx: EngineContext, type: string): AnyAction {
  const plugin = ctx.config.plugins.get(type);
  if (!plugin) {
    const known = [...ctx.config.plugins.keys()].join(", ");
    throw new BulkrunError("BULKRUN_ERR_UNKNOWN_ACTION_TYPE", `no plugin handles action type \`${type}\` (known: ${known})`);
  }
  return plugin;
}

async function stageAndPlan(ctx: EngineContext, action: ActionRow, plugin: AnyAction, options: AnyOptions): Promise<void> {
  const source = parseSource(action.source);
  const reader = source.kind === "url" ? await openUrl(source.url, { timeoutMs: ctx.config.sources.urlTimeoutMs }) : source.kind === "inline" ? inlineReader(source.rows, byOptions(csvInput(plugin).columns, options)) : undefined;
  const client = await ctx.db.pool.connect();
  try {
    await client.query("begin");
    if (reader) await stage(client, action.id, plugin, options, reader);
    if (source.kind === "copy") await copyItems(client, action.id, source.from, source.rows);
    if (source.kind === "filter") await snapshotFilter(client, ctx.db.knex, plugin, action, source.where);
    const chunkSize = action.chunk_size ?? ctx.config.chunkSize;
    const chunks = await planChunks(client, action.id, chunkSize);
    await enqueueChunks(client, action.id, chunks, ctx.config.worker.chunkAttempts);
    // Invalid rows and duplicates have their outcome already; the chunks count the rest.
    const { rows } = await client.query<{ total: number; invalid: number }>(
      `update bulkrun.bulk_actions a
          set total = c.total, failed = c.invalid, skipped = c.duplicates, processed = c.invalid + c.duplicates
         from (select count(*)::bigint as total,
                      count(*) filter (where status = 'failed')::bigint as invalid,
                      count(*) filter (where status = 'skipped')::bigint as duplicates
                 from bulkrun.bulk_action_items where action_id = $1) c
        where a.id = $1 returning a.total, a.failed as invalid`,
      [action.id],
    );
    const { total, invalid } = rows[0]!;
    await client.query("select bulkrun_private.transition_action($1, $2)", [action.id, chunks.length > 0 ? "running" : "completed"]);
    await client.query("commit");
    ctx.events.emit("action:prepared", { actionId: action.id, rows: total, invalid, chunks: chunks.length });
    if (chunks.length === 0) ctx.events.emit("action:finished", { actionId: action.id, status: "completed" });
  } catch (error) {
    await client.query("rollback").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

/**
 * Stages the rows of an earlier action again: all of them (a dry run's plan; invalid rows and
 * duplicates keep their outcome and reason) or the ones that failed when applied (a retry). Row
 * numbers are the source's, so the ledgers line up.
 */
async function copyItems(client: pg.PoolClient, actionId: number, from: number, rows: "all" | "failed"): Promise<void> {
  await client.query(
    `insert into bulkrun.bulk_action_items (action_id, row_number, key, data, status, outcome, error)
     select $1, row_number, key, data,
            case when key is null then 'failed' when outcome = 'duplicate_in_file' then 'skipped' else 'pending' end,
            case when key is null then 'invalid' when outcome = 'duplicate_in_file' then outcome end,
            case when key is null or outcome = 'duplicate_in_file' then error end
       from bulkrun.bulk_action_items
      where action_id = $2 and ($3 = 'all' or (status = 'failed' and outcome is distinct from 'invalid'))`,
    [actionId, from, rows],
  );
}

async function stage(client: pg.PoolClient, actionId: number, plugin: AnyAction, options: AnyOptions, reader: CsvReader): Promise<void> {
  const result = await ingestRows(client, actionId, plugin, options, reader.header, reader.batches);
  if (result.warnings.length > 0) {
    await client.query("update bulkrun.bulk_actions set warnings = warnings || $2::text[] where id = $1", [actionId, result.warnings]);
  }
}
