/** Seconds the "rows/s now" figure averages: chunks commit in bursts, a single second jumps. */
const WINDOW = 10;

/** Rows per second over the last few seconds of a per-second series. */
export function recentRate(perSecond: readonly number[]): number {
  const recent = perSecond.slice(-WINDOW);
  return recent.length ? recent.reduce((sum, v) => sum + v, 0) / recent.length : 0;
}
