import type { ActionSummary } from "./model.ts";

/** The API sends BigInt fields as strings and leaves absent values null: these read them. */

/** A count; 0 when absent. */
export const num = (value: unknown): number => Number(value ?? 0);

/** A number, or null when absent. */
export const maybeNum = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));

/** A timestamp, or null when absent. */
export const maybeDate = (value: unknown): Date | null => (typeof value === "string" ? new Date(value) : null);

/** An action's counters, progress and rate. */
export type ActionCounters = Pick<
  ActionSummary,
  "total" | "processed" | "created" | "updated" | "deleted" | "skipped" | "failed" | "progress" | "rowsPerSecond"
>;

/** An action's counters, progress and rate as the API sends them (queries and the subscription alike). */
export function counters(raw: Record<string, unknown>): ActionCounters {
  return {
    total: maybeNum(raw.total),
    processed: num(raw.processed),
    created: num(raw.created),
    updated: num(raw.updated),
    deleted: num(raw.deleted),
    skipped: num(raw.skipped),
    failed: num(raw.failed),
    progress: maybeNum(raw.progress),
    rowsPerSecond: maybeNum(raw.rowsPerSecond),
  };
}
