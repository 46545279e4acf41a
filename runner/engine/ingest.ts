import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { BulkrunError } from "../errors.ts";
import { byOptions, type AnyAction, type AnyOptions } from "../plugin.ts";
import { copyValue } from "./copy-text.ts";
import { markDuplicates } from "./duplicates.ts";
import { SeenKeys } from "./seen-keys.ts";

const ANALYZE_AFTER_ROWS = 50_000;

/** What staging a source into the ledger found. */
export interface IngestResult {
  rows: number;
  invalid: number;
  /** Rows skipped because a later row has the same key. */
  duplicates: number;
  /** Said once on the action, e.g. the columns that were ignored. */
  warnings: string[];
}

/** Where each column the plugin reads sits in the header. */
interface ColumnMap {
  names: string[];
  positions: number[];
  warnings: string[];
}

/** The plugin's CSV input, or a clear error for an action type that takes none. */
export function csvInput(plugin: AnyAction) {
  if (!plugin.csv) {
    throw new BulkrunError("BULKRUN_ERR_SOURCE", `${plugin.name} does not take CSV rows; give it a filter ({"kind": "filter", "where": {...}})`);
  }
  return plugin.csv;
}

/**
 * Matches a header against the plugin's columns, case-insensitively. A missing required column
 * (or, for a plugin that rejects them, an unknown one) fails the whole action here, before any
 * row is staged.
 */
function mapHeader(plugin: AnyAction, header: string[], options: AnyOptions): ColumnMap {
  const csv = csvInput(plugin);
  const columns = byOptions(csv.columns, options);
  const required = byOptions(csv.required, options);
  // A zero-width space or a stray control character in a column name is never meant.
  const normalised = header.map((h) => h.replace(INVISIBLE, "").trim().toLowerCase());
  const missing = required.filter((c) => !normalised.includes(c));
  if (missing.length > 0) {
    throw new BulkrunError(
      "BULKRUN_ERR_CSV_HEADER",
      `the CSV header has no ${missing.map((c) => `\`${c}\``).join(", ")} column (found: ${listColumns(header, header.map((_, i) => i))}); ` +
        `${plugin.name} needs ${required.join(", ")} and reads ${columns.join(", ")}`,
    );
  }
  const names: string[] = [];
  const positions: number[] = [];
  const warnings: string[] = [];
  for (const column of columns) {
    const first = normalised.indexOf(column);
    if (first < 0) continue;
    names.push(column);
    positions.push(first);
    if (normalised.indexOf(column, first + 1) >= 0) {
      warnings.push(`column \`${column}\` appears more than once in the header; the first one is used`);
    }
  }
  const unknown = header.flatMap((_, i) => (columns.includes(normalised[i]!) ? [] : [i]));
  if (unknown.length > 0 && csv.unknownColumns === "reject") {
    throw new BulkrunError(
      "BULKRUN_ERR_CSV_HEADER",
      `${plugin.name} cannot write the column(s) ${listColumns(header, unknown)}; the allowed columns are ${columns.join(", ")}`,
    );
  }
  if (unknown.length > 0) warnings.push(`ignored unknown columns: ${listColumns(header, unknown)}`);
  return { names, positions, warnings };
}

const INVISIBLE = /[\p{Cc}\p{Cf}]/gu;
const MAX_LISTED = 10;
const MAX_NAME_SHOWN = 40;

/**
 * Column names as a message shows them: invisible characters spelled out (Postgres text cannot
 * even hold a NUL), long names and long lists cut short.
 */
function listColumns(header: string[], indexes: number[]): string {
  const shown = indexes.slice(0, MAX_LISTED).map((i) => {
    const name = header[i]!;
    if (name === "") return `(unnamed column ${i + 1})`;
    const visible = name.replace(INVISIBLE, (c) => `\\u${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`);
    return visible.length > MAX_NAME_SHOWN ? `${visible.slice(0, MAX_NAME_SHOWN)}…` : visible;
  });
  const more = indexes.length - shown.length;
  return shown.join(", ") + (more > 0 ? ` and ${more} more` : "");
}

/**
 * Validates every row with the plugin and COPYs it into the ledger in source order: good rows as
 * `pending`, bad rows at once as `failed` with the reason; then settles duplicate keys (the last
 * row wins). Runs inside the caller's transaction so a source is staged whole or not at all.
 */
export async function ingestRows(
  client: pg.PoolClient,
  actionId: number,
  plugin: AnyAction,
  options: AnyOptions,
  header: string[],
  batches: AsyncIterable<string[][]>,
): Promise<IngestResult> {
  const columns = mapHeader(plugin, header, options);
  const { parse } = csvInput(plugin);
  const result: IngestResult = { rows: 0, invalid: 0, duplicates: 0, warnings: columns.warnings };
  const prefix = `${actionId}\t`;
  const seen = new SeenKeys();

  async function* lines(): AsyncGenerator<string> {
    for await (const batch of batches) {
      let text = "";
      for (const cells of batch) {
        const row = ++result.rows;
        const record: Record<string, string> = {};
        for (let c = 0; c < columns.names.length; c++) {
          record[columns.names[c]!] = cells[columns.positions[c]!] ?? "";
        }
        const problem = shapeProblem(cells, header.length, record);
        const parsed = problem ? { error: problem } : parse(record, options);
        if ("error" in parsed) {
          result.invalid++;
          text += `${prefix}${row}\t\\N\t${copyValue(safeJson(record))}\tfailed\tinvalid\t${copyValue(parsed.error)}\n`;
        } else {
          seen.add(parsed.key);
          text += `${prefix}${row}\t${copyValue(parsed.key)}\t${copyValue(JSON.stringify(parsed.data))}\tpending\t\\N\t\\N\n`;
        }
      }
      yield text;
    }
  }

  await pipeline(
    Readable.from(lines()),
    client.query(
      copyFrom("copy bulkrun.bulk_action_items (action_id, row_number, key, data, status, outcome, error) from stdin"),
    ),
  );
  // After a large COPY the ledger's statistics are stale: the planner takes the action for a few
  // rows and settles its duplicates and plans its chunks with nested loops and random heap reads
  // (seconds per million rows). Fresh statistics give sequential scans; small stages need none.
  if (result.rows >= ANALYZE_AFTER_ROWS) await client.query("analyze bulkrun.bulk_action_items");
  result.duplicates = await markDuplicates(client, actionId, seen.suspects());
  return result;
}

/** What makes a row unreadable before the plugin sees it; only the columns it reads count. */
function shapeProblem(cells: string[], width: number, record: Record<string, string>): string | undefined {
  if (cells.length !== width) return `the row has ${cells.length} ${cells.length === 1 ? "cell" : "cells"} but the header has ${width}`;
  for (const [column, value] of Object.entries(record)) {
    if (value.includes("\u0000")) return `column \`${column}\` contains a NUL byte`;
    // The decoder turned bytes that are not UTF-8 into U+FFFD; storing that would lose the text.
    if (value.includes("\uFFFD")) {
      return `column \`${column}\` is not UTF-8 text: save the file as "CSV UTF-8" (Windows-1252 and Latin-1 are not accepted)`;
    }
  }
  return undefined;
}

/** Postgres jsonb cannot hold NUL characters; the ledger keeps the rest of a bad row readable. */
function safeJson(record: Record<string, string>): string {
  return JSON.stringify(record).replaceAll("\\u0000", "\\ufffd");
}
