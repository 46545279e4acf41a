import type { ActionRow } from "../engine/actions.ts";

const WIDTH = 24;

/** Thousands separated by thin spaces: 1 234 567. */
export function count(n: number): string {
  return Math.round(n).toLocaleString("en-US").replaceAll(",", " ");
}

function seconds(ms: number): string {
  const s = ms / 1000;
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** Rows per second since the action was created (staging included). */
export function rowsPerSecond(action: ActionRow, now = Date.now()): number {
  const end = action.finished_at?.getTime() ?? now;
  const elapsed = (end - action.created_at.getTime()) / 1000;
  return elapsed > 0 ? action.processed / elapsed : 0;
}

/** One progress line: bar, percentage, rows, rows/s and ETA. */
export function progressLine(action: ActionRow, now = Date.now()): string {
  const total = action.total ?? 0;
  if (action.status !== "running" || total === 0) return `action ${action.id}: ${action.status}…`;
  const share = Math.min(1, action.processed / total);
  const filled = Math.round(share * WIDTH);
  const rate = rowsPerSecond(action, now);
  const eta = rate > 0 ? seconds(((total - action.processed) / rate) * 1000) : "?";
  return (
    `[${"#".repeat(filled)}${"-".repeat(WIDTH - filled)}] ${(share * 100).toFixed(0).padStart(3)}% ` +
    `${count(action.processed)}/${count(total)} rows  ${count(rate)} rows/s  ETA ${eta}`
  );
}

/** The closing summary of a finished action. */
export function summaryLine(action: ActionRow): string {
  const took = (action.finished_at?.getTime() ?? Date.now()) - action.created_at.getTime();
  const counters = `${count(action.created)} created, ${count(action.updated)} updated, ${count(action.deleted)} deleted, ` +
    `${count(action.skipped)} skipped, ${count(action.failed)} failed`;
  const error = action.error ? ` — ${action.error}` : "";
  const dryRun = action.dry_run ? ` — a dry run: nothing was applied; apply this plan with \`bulkrun run ${action.id}\`` : "";
  const name = action.dry_run ? "dry run" : "action";
  return `${name} ${action.id} ${action.status} in ${seconds(took)}: ${counters} (${count(action.total ?? 0)} rows, ${count(rowsPerSecond(action))} rows/s)${error}${dryRun}`;
}
