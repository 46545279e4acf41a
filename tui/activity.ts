import type { ActionSummary } from "./model.ts";

/** Statuses in the order the table lists them: work under way first, finished work last. */
const RANK: Record<string, number> = { running: 0, preparing: 1, paused: 2, queued: 3, scheduled: 4 };
const FINISHED = 5;

/**
 * Actions sorted by activity: running, then preparing, paused and waiting ones (newest first),
 * then finished ones, the most recently finished first. A running action keeps its place while
 * its counters move, so the selection does not jump.
 */
export function byActivity(actions: readonly ActionSummary[]): ActionSummary[] {
  const rank = (a: ActionSummary) => RANK[a.status] ?? FINISHED;
  return [...actions].sort(
    (a, b) => rank(a) - rank(b) || (rank(a) === FINISHED ? b.updatedAt.getTime() - a.updatedAt.getTime() : 0) || b.id - a.id,
  );
}
