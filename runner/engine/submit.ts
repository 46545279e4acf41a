import type { Readable } from "node:stream";
import type { ResolvedConfig } from "../config.ts";
import type { Database } from "../db/database.ts";
import { BulkrunError, isBulkrunError, type ErrorCode } from "../errors.ts";
import { findAction, type ActionRow } from "./actions.ts";
import { openCsv } from "./csv.ts";
import { ingestRows } from "./ingest.ts";
import { validateOptions } from "./options.ts";
import type { ActionSource } from "./source.ts";

/** A bulk action to start. */
export interface ActionRequest {
  accountId: number;
  type: string;
  options?: Record<string, unknown>;
  /** Rows per chunk; the configured default when absent. */
  chunkSize?: number;
}

interface Deps {
  db: Database;
  config: ResolvedConfig;
}

/** File problems that fail the action itself, rather than the command line. */
const FILE_ERRORS: readonly ErrorCode[] = ["BULKRUN_ERR_CSV_EMPTY", "BULKRUN_ERR_NOT_CSV", "BULKRUN_ERR_CSV_HEADER"];

function checkRequest({ config }: Deps, request: ActionRequest) {
  const plugin = config.plugins.get(request.type);
  if (!plugin) {
    throw new BulkrunError(
      "BULKRUN_ERR_UNKNOWN_ACTION_TYPE",
      `no plugin handles action type \`${request.type}\` (known: ${[...config.plugins.keys()].join(", ")})`,
    );
  }
  return { plugin, options: validateOptions(plugin.name, plugin.options, request.options ?? {}) };
}

const INSERT = `insert into bulkrun.bulk_actions (account_id, type, options, source, chunk_size, status, error_code, error, finished_at)
  values ($1, $2, $3, $4, $5, coalesce($6, 'queued'), $7, $8, case when $6 = 'failed' then now() end) returning id`;

/**
 * Starts an action whose rows the worker fetches (a URL) or that come with it (inline rows).
 * Just an insert: the SQL trigger enqueues it, exactly as for an insert from psql.
 */
export async function submitAction(deps: Deps, request: ActionRequest, source: ActionSource): Promise<ActionRow> {
  checkRequest(deps, request);
  const { rows } = await deps.db.pool.query<{ id: number }>(INSERT, [
    request.accountId, request.type, request.options ?? {}, source, request.chunkSize ?? null, null, null, null,
  ]);
  return (await findAction(deps.db.knex, rows[0]!.id))!;
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
    const { rows } = await client.query<{ id: number }>(INSERT, [
      request.accountId, request.type, request.options ?? {}, source, request.chunkSize ?? null, null, null, null,
    ]);
    const id = rows[0]!.id;
    const reader = await openCsv(input);
    const result = await ingestRows(client, id, plugin, options, reader.header, reader.batches);
    await client.query("update bulkrun.bulk_actions set warnings = $2 where id = $1", [id, result.warnings]);
    await client.query("commit");
    return (await findAction(deps.db.knex, id))!;
  } catch (error) {
    await client.query("rollback").catch(() => {});
    if (isBulkrunError(error) && FILE_ERRORS.includes(error.code)) {
      await client.query(INSERT, [
        request.accountId, request.type, request.options ?? {}, source, request.chunkSize ?? null, "failed", error.code, error.message,
      ]);
    }
    throw error;
  } finally {
    client.release();
  }
}
