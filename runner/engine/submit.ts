import type { Readable } from "node:stream";
import type pg from "pg";
import type { ResolvedConfig } from "../config.ts";
import type { Database } from "../db/database.ts";
import { BulkrunError, isBulkrunError, type ErrorCode } from "../errors.ts";
import { findAction, type ActionRow } from "./actions.ts";
import { openCsv } from "./csv.ts";
import { ingestRows } from "./ingest.ts";
import { actionOptions } from "./options.ts";
import type { ActionSource } from "./source.ts";
import { checkWebhookUrl } from "./webhook-settings.ts";

/** A bulk action to start. */
export interface ActionRequest {
  accountId: number;
  type: string;
  options?: Record<string, unknown>;
  /** Rows per chunk; the configured default when absent. */
  chunkSize?: number;
  /** Evaluate every row without applying anything. @default false */
  dryRun?: boolean;
  /** Higher runs sooner, from -100 to 100. @default 0 */
  priority?: number;
  /** Start at this time instead of now (the action waits as `scheduled`). */
  runAt?: Date;
  /** Where to POST the summary when the action ends; the account's webhook URL when absent. */
  webhookUrl?: string;
}

interface Deps {
  db: Database;
  config: ResolvedConfig;
}

/** File problems that fail the action itself, rather than the command line. */
const FILE_ERRORS: readonly ErrorCode[] = ["BULKRUN_ERR_CSV_EMPTY", "BULKRUN_ERR_NOT_CSV", "BULKRUN_ERR_CSV_HEADER"];

/**
 * Checks what can be checked before anything is stored: the action type, its options and the
 * webhook URL; every client (CLI, API, upload) reports the same messages.
 */
export function checkRequest({ config }: Pick<Deps, "config">, request: Pick<ActionRequest, "type" | "options" | "webhookUrl">) {
  const plugin = config.plugins.get(request.type);
  if (!plugin) {
    throw new BulkrunError(
      "BULKRUN_ERR_UNKNOWN_ACTION_TYPE",
      `no plugin handles action type \`${request.type}\` (known: ${[...config.plugins.keys()].join(", ")})`,
    );
  }
  if (request.webhookUrl !== undefined) checkWebhookUrl(request.webhookUrl);
  return { plugin, options: actionOptions(plugin, request.options ?? {}) };
}

/** A failure recorded at once, for a file that was not a usable CSV. */
interface Failure {
  code: ErrorCode;
  message: string;
}

/** The action's row; the insert trigger enqueues it unless it is recorded as failed. */
async function insertAction(client: pg.Pool | pg.PoolClient, request: ActionRequest, source: unknown, failure?: Failure): Promise<number> {
  const columns: Record<string, unknown> = {
    account_id: request.accountId,
    type: request.type,
    options: request.options ?? {},
    source,
    chunk_size: request.chunkSize ?? null,
    dry_run: request.dryRun ?? false,
    webhook_url: request.webhookUrl ?? null,
    priority: request.priority ?? 0,
    run_at: request.runAt ?? null,
    ...(failure && { status: "failed", error_code: failure.code, error: failure.message, finished_at: new Date() }),
  };
  const names = Object.keys(columns);
  const { rows } = await client.query<{ id: number }>(
    `insert into bulkrun.bulk_actions (${names.join(", ")}) values (${names.map((_, i) => `$${i + 1}`).join(", ")}) returning id`,
    Object.values(columns),
  );
  return rows[0]!.id;
}

/**
 * Starts an action whose rows the worker fetches (a URL) or that come with it (inline rows).
 * Just an insert: the SQL trigger enqueues it, exactly as for an insert from psql.
 */
export async function submitAction(deps: Deps, request: ActionRequest, source: ActionSource): Promise<ActionRow> {
  checkRequest(deps, request);
  const id = await insertAction(deps.db.pool, request, source);
  return (await findAction(deps.db.knex, id))!;
}

/**
 * Starts an action from a local CSV: the action row and its staged rows (COPY) commit together,
 * so any worker on any machine can run it and the prepare job never sees half a file. A file
 * that is not a usable CSV is recorded as a failed action with the reason, and thrown.
 */
export async function submitFile(deps: Deps, request: ActionRequest, input: Readable, fileName: string): Promise<ActionRow> {
  const { plugin, options } = checkRequest(deps, request);
  const source = { kind: "staged", file: fileName };
  const client = await deps.db.pool.connect();
  try {
    await client.query("begin");
    const id = await insertAction(client, request, source);
    const reader = await openCsv(input);
    const result = await ingestRows(client, id, plugin, options, reader.header, reader.batches);
    await client.query("update bulkrun.bulk_actions set warnings = $2 where id = $1", [id, result.warnings]);
    await client.query("commit");
    return (await findAction(deps.db.knex, id))!;
  } catch (error) {
    await client.query("rollback").catch(() => {});
    if (isBulkrunError(error) && FILE_ERRORS.includes(error.code)) {
      await insertAction(client, request, source, { code: error.code, message: error.message });
    }
    throw error;
  } finally {
    client.release();
  }
}
