import type { Database } from "../db/database.ts";
import { byOptions, type AnyAction } from "../plugin.ts";
import type { ActionRow } from "./actions.ts";

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

/** Streams an action's ledger in source-row order through a server-side cursor. */
export async function* readLedger(db: Database, query: LedgerQuery): AsyncGenerator<LedgerRow[]> {
  const client = await db.pool.connect();
  try {
    await client.query("begin read only");
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
