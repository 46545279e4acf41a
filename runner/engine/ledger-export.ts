import type { Database } from "../db/database.ts";
import { BulkrunError } from "../errors.ts";
import { byOptions, type AnyAction } from "../plugin.ts";
import type { ActionRow, LedgerState } from "./actions.ts";

/** One ledger row as exported by `bulkrun logs`. */
export interface LedgerRow {
  row_number: number;
  status: string;
  outcome: string | null;
  error: string | null;
  entity_id: number | null;
  data: Record<string, unknown> | null;
}

export interface LedgerQuery {
  actionId: number;
  status?: "pending" | "succeeded" | "failed" | "skipped";
  /** Rows fetched per round trip. @default 5000 */
  pageSize?: number;
}

/** What retention left of an action's ledger. */
type Kept = Pick<ActionRow, "id" | "ledger_state" | "ledger_pruned_at">;

/** States in which every failed row is still there. */
const FAILED_ROWS_KEPT: readonly LedgerState[] = ["complete", "pruning_keep_failed", "failed_only"];

/** What retention did to the ledger, in a few words ("pruned by ledger retention at …"); undefined while it is complete. */
export function prunedNote(action: Kept): string | undefined {
  if (action.ledger_state === "complete") return undefined;
  const when = action.ledger_pruned_at!.toISOString();
  const kept = FAILED_ROWS_KEPT.includes(action.ledger_state) ? ", its failed rows kept" : "";
  return pruning(action) ? `being pruned by ledger retention since ${when}${kept}` : `pruned by ledger retention at ${when}${kept}`;
}

function pruning(action: Kept): boolean {
  return action.ledger_state === "pruning" || action.ledger_state === "pruning_keep_failed";
}

/**
 * Refuses to export a ledger retention has pruned, rather than print nothing, or a part as if it
 * were all; a ledger whose failed rows were kept still answers for those.
 */
export function assertLedgerKept(action: Kept, status: LedgerQuery["status"]): void {
  const note = prunedNote(action);
  const failedKept = FAILED_ROWS_KEPT.includes(action.ledger_state);
  if (!note || (status === "failed" && failedKept)) return;
  const left = failedKept ? `\`bulkrun logs ${action.id} --status failed\` exports those` : "its rows are gone";
  throw new BulkrunError(
    "BULKRUN_ERR_LEDGER_PRUNED",
    `the ledger of action ${action.id} ${pruning(action) ? "is" : "was"} ${note}: ${left}; its counts remain in \`bulkrun status ${action.id}\``,
  );
}

/**
 * Streams an action's ledger in source-row order through a server-side cursor. One snapshot
 * (repeatable read) serves the check that retention has not pruned it and every page after.
 */
export async function* readLedger(db: Database, query: LedgerQuery): AsyncGenerator<LedgerRow[]> {
  const client = await db.pool.connect();
  try {
    await client.query("begin isolation level repeatable read, read only");
    const { rows: actions } = await client.query<Kept>("select id, ledger_state, ledger_pruned_at from bulkrun.bulk_actions where id = $1", [
      query.actionId,
    ]);
    if (actions[0]) assertLedgerKept(actions[0], query.status);
    await client.query(
      `declare ledger no scroll cursor for
         select row_number, status, outcome, error, entity_id, data from bulkrun.bulk_action_items
          where action_id = $1 and ($2::text is null or status = $2) order by row_number`,
      [query.actionId, query.status ?? null],
    );
    for (;;) {
      const { rows } = await client.query<LedgerRow>(`fetch ${query.pageSize ?? 5000} from ledger`);
      if (rows.length === 0) break;
      yield rows;
    }
    await client.query("commit");
  } finally {
    await client.query("rollback").catch(() => {});
    client.release();
  }
}

const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * One CSV cell. Cells a spreadsheet would run as a formula (starting with = + - @, tab or CR)
 * get a leading apostrophe, so an exported ledger is safe to open.
 */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  let text = typeof value === "string" ? value : String(value);
  if (FORMULA_START.test(text)) text = `'${text}`;
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The data columns of an action's ledger: the CSV columns, or `id` for rows a filter chose. */
export function ledgerColumns(plugin: AnyAction | undefined, action: ActionRow): readonly string[] {
  if (action.source.kind === "filter" || !plugin?.csv) return ["id"];
  return byOptions(plugin.csv.columns, action.options);
}
