import type { Knex } from "knex";
import { ENGINE_OUTCOMES, type AnyAction, type OutcomeKind, type RowOutcome } from "../plugin.ts";
import type { ActionRow } from "./actions.ts";
import { applyChunkQuery, selectOutcomes, STAGED_CTE } from "./chunk-query.ts";
import type { EngineContext } from "./context.ts";
import { finishIfDone } from "./finalize.ts";
import { emptyCounts, writeLedger, type Counts, type LedgerEntry } from "./ledger.ts";
import { actionOptions } from "./options.ts";
import { pluginFor } from "./prepare.ts";
import { returnChunkTokens, takeChunkTokens, type TokenRequest } from "./rate-limit.ts";
import { STAGED_TABLE, stageChunk, type ChunkRange } from "./staged.ts";

type Chunk = ChunkRange & { id: number; rows: number };

/** What a chunk needs of its action. */
type ChunkAction = Pick<ActionRow, "id" | "account_id" | "type" | "status" | "options" | "dry_run">;

/** What became of a chunk job: applied (or nothing left to do), or to run again later. */
export type ChunkRun = { retryInSeconds: number } | undefined;

/**
 * The chunk job. The plugin's writes, every row's ledger entry, the chunk's status and the
 * action's counters commit in one transaction; a chunk that already committed is a no-op, so
 * running its job again (a retry, a crash after commit, a hand-made duplicate) changes nothing.
 * A chunk of a paused or cancelled action does nothing; one whose account is over its rate limit
 * asks to run again when the tokens are there.
 *
 * The claim tells whether the account has a rate limit. Without one, the chunk goes on: no token
 * statement (a round trip, about 0.6 ms of a 10-row chunk's 4 ms of engine time). With one, it
 * rolls the claim back, takes its tokens in a short transaction of their own, and claims again:
 * three round trips more, which only a throttled account pays.
 */
export async function runChunk(ctx: EngineContext, chunkId: number, worker: string, attempt: number): Promise<ChunkRun> {
  const first = await applyInTransaction(ctx, chunkId, worker, attempt, false);
  if (typeof first === "boolean") return;
  const tokens = await takeChunkTokens(ctx.db.knex, first, ctx.config.rateLimitWindowMs);
  if (tokens.waitSeconds > 0) return { retryInSeconds: tokens.waitSeconds };
  const applied = await applyInTransaction(ctx, chunkId, worker, attempt, true).catch(async (error: unknown) => {
    await returnChunkTokens(ctx.db.knex, tokens);
    throw error;
  });
  if (applied === false) await returnChunkTokens(ctx.db.knex, tokens);
}

/**
 * Claims and applies the chunk in one transaction, and announces the commit. Says whether it
 * applied the chunk (false: nothing to apply, the action not running), or which tokens must be
 * taken first; with `tokensTaken`, a limit is not asked about again.
 */
async function applyInTransaction(
  ctx: EngineContext,
  chunkId: number,
  worker: string,
  attempt: number,
  tokensTaken: boolean,
): Promise<boolean | TokenRequest> {
  const started = performance.now();
  let pluginMs = 0;
  let tokensNeeded: TokenRequest | undefined;
  const committed = await ctx.db.knex.transaction(async (trx) => {
    const claimed = await claimChunk(trx, chunkId, worker, attempt);
    if (!claimed || claimed.action.status !== "running") return undefined;
    const { chunk, action, rateLimited } = claimed;
    if (rateLimited && !action.dry_run && !tokensTaken) {
      tokensNeeded = { accountId: action.account_id, rows: chunk.rows };
      await trx.rollback();
      return undefined;
    }
    const applied = await applyChunk(trx, pluginFor(ctx, action.type), chunk, action);
    pluginMs = applied.pluginMs;
    const status = await finishIfDone(trx, action.id, applied.counts, { id: chunkId, durationMs: Math.round(performance.now() - started) });
    return { actionId: action.id, rows: applied.counts.processed, status };
  });
  if (tokensNeeded) return tokensNeeded;
  if (!committed) return false;
  ctx.events.emit("chunk:commit", {
    actionId: committed.actionId,
    chunkId,
    rows: committed.rows,
    durationMs: performance.now() - started,
    pluginMs,
  });
  if (committed.status) ctx.events.emit("action:finished", { actionId: committed.actionId, status: committed.status });
  return true;
}

/**
 * Applies the chunk with the plugin and writes its rows' ledger entries. A plugin's query runs in
 * one statement with the ledger write; rows a plugin reports from Node are checked, then written
 * in one more. Returns what the chunk adds to the action's counters, and the time spent in the
 * plugin's own statements.
 */
async function applyChunk(trx: Knex.Transaction, plugin: AnyAction, chunk: Chunk, action: ChunkAction): Promise<{ counts: Counts; pluginMs: number }> {
  const context = { db: trx, accountId: action.account_id, actionId: action.id, options: actionOptions(plugin, action.options) };
  const counts = emptyCounts();
  let staged: number;
  let outcomes: RowOutcome<string>[];
  let started = performance.now();
  if (plugin.chunkQuery) {
    const query = await plugin.chunkQuery({ ...context, staged: STAGED_CTE });
    if (!action.dry_run) {
      const applied = await applyChunkQuery(trx, plugin, chunk, query);
      return { counts: applied, pluginMs: performance.now() - started };
    }
    ({ staged, outcomes } = await evaluate(trx, () => selectOutcomes(trx, chunk, query)));
  } else {
    staged = await stageChunk(trx, chunk);
    if (staged === 0) return { counts, pluginMs: 0 };
    started = performance.now();
    const apply = () => plugin.processChunk!({ ...context, staged: STAGED_TABLE });
    outcomes = action.dry_run ? await evaluate(trx, apply) : await apply();
  }
  const pluginMs = performance.now() - started;
  // Ids of rows a dry run never kept mean nothing.
  if (action.dry_run) outcomes = outcomes.map(({ entityId: _, ...outcome }) => outcome);
  await writeLedger(trx, chunk, ledgerEntries(plugin, staged, outcomes), counts);
  return { counts, pluginMs };
}

/**
 * A dry run: the plugin's statements run for real inside a savepoint that is then rolled back,
 * so the outcomes are exactly what applying would report and nothing is written.
 */
async function evaluate<T>(trx: Knex.Transaction, apply: () => Promise<T>): Promise<T> {
  await trx.raw("savepoint bulkrun_dry_run");
  const result = await apply();
  await trx.raw("rollback to savepoint bulkrun_dry_run");
  return result;
}

/**
 * Settings for the rest of the chunk's transaction, made by the claim's statement (one round trip
 * less per chunk).
 * - The commit need not wait for its WAL flush: Graphile Worker marks the job done afterwards in a
 *   synchronous commit, which flushes the WAL up to and past this one. A crash before that loses
 *   both, and the job runs the (rolled back) chunk again.
 * - A chunk looks up thousands of entities by key in tables that are mostly cached; at the default
 *   random_page_cost (4, for spinning disks) the planner prefers a sequential scan of a
 *   million-row table to ten thousand index lookups (1.3 s instead of 0.1 s for a delete chunk).
 */
const TRANSACTION_SETTINGS = "set_config('synchronous_commit', 'off', true) || set_config('random_page_cost', '1.1', true) as settings";

/**
 * Locks the chunk row for this transaction, if it still waits to be applied, reads what the chunk
 * needs of its action and whether its account has a rate limit, and makes the transaction's
 * settings. The attempt number comes from the job: a failed attempt's own writes roll back with
 * it.
 */
async function claimChunk(
  trx: Knex.Transaction,
  chunkId: number,
  worker: string,
  attempt: number,
): Promise<{ chunk: Chunk; action: ChunkAction; rateLimited: boolean } | undefined> {
  const { rows } = await trx.raw<{ rows: (Chunk & { action: ChunkAction; rate_limited: boolean; settings: string })[] }>(
    `update bulkrun.bulk_action_chunks c set attempts = ?, started_at = now(), worker = ?
       from bulkrun.bulk_actions a join bulkrun.accounts acc on acc.id = a.account_id
      where c.id = ? and c.status = 'pending' and a.id = c.action_id
      returning c.id, c.action_id, c.row_from, c.row_to, c.rows,
        json_build_object('id', a.id, 'account_id', a.account_id, 'type', a.type, 'status', a.status,
                          'options', a.options, 'dry_run', a.dry_run) as action,
        acc.rate_limit_per_minute is not null as rate_limited,
        ${TRANSACTION_SETTINGS}`,
    [attempt, worker, chunkId],
  );
  const row = rows[0];
  if (!row) return undefined;
  const { action, rate_limited: rateLimited, settings: _, ...chunk } = row;
  return { chunk, action, rateLimited };
}

/** Checks the plugin's outcomes: every staged row exactly once, each a declared outcome. */
function ledgerEntries(plugin: AnyAction, stagedRows: number, outcomes: RowOutcome<string>[]): LedgerEntry[] {
  const seen = new Set<number>();
  const entries = outcomes.map((outcome): LedgerEntry => {
    if (seen.has(outcome.row)) throw new Error(`${plugin.name} reported row ${outcome.row} twice; it must report each row once`);
    seen.add(outcome.row);
    const kind: OutcomeKind | undefined = plugin.outcomes[outcome.outcome] ?? ENGINE_OUTCOMES[outcome.outcome as keyof typeof ENGINE_OUTCOMES];
    if (!kind) throw new Error(`${plugin.name} reported outcome \`${outcome.outcome}\`, which it does not declare`);
    return {
      row: outcome.row,
      kind,
      outcome: outcome.outcome,
      error: outcome.error ?? null,
      entityId: outcome.entityId === undefined ? null : Number(outcome.entityId),
    };
  });
  if (entries.length !== stagedRows) {
    throw new Error(`${plugin.name} reported ${entries.length} outcomes for ${stagedRows} rows; it must report each row once`);
  }
  return entries;
}
