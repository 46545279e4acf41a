import { setTimeout as sleep } from "node:timers/promises";
import { isBulkrunError } from "../runner/errors.ts";
import { byActivity } from "./activity.ts";
import { GraphqlClient, type ApiTarget } from "./client.ts";
import { compact, timeLeft } from "./format.ts";
import type { Overview } from "./model.ts";
import { fetchOverview } from "./queries.ts";
import { recentRate } from "./recent-rate.ts";

/** The one line that stands for the dashboard when stdout is not a terminal. */
export function progressSummary(overview: Overview, now: number): string {
  const perSecond = recentRate(overview.throughput);
  const active = byActivity(overview.actions).filter((a) => ["running", "preparing", "paused"].includes(a.status));
  const { queue, runners } = overview;
  const parts = [
    `${compact(perSecond)} rows/s`,
    ...(runners ? [`workers ${runners.workersBusy}/${runners.workersTotal}`] : []),
    `${queue.queuedActions} waiting, ${queue.activeActions} active`,
    ...active.slice(0, 3).map((a) => {
      const share = a.progress === null ? "-" : `${Math.floor(a.progress * 100)}%`;
      return `#${a.id} ${a.type} ${a.account} ${a.status} ${share} ETA ${timeLeft(a.eta, now)}`;
    }),
  ];
  return parts.join(" · ");
}

/**
 * Prints {@link progressSummary} every `intervalMs` while it changes (an idle runner prints
 * once), until `signal`. A refused token ends it with that error; an unreachable API is a line too.
 */
export async function printProgress(target: ApiTarget, intervalMs: number, print: (line: string) => void, signal: AbortSignal): Promise<void> {
  const client = new GraphqlClient(target);
  let last = "";
  try {
    while (!signal.aborted) {
      let line: string;
      try {
        line = progressSummary(await fetchOverview(client), Date.now());
      } catch (error) {
        if (isBulkrunError(error, "BULKRUN_ERR_UNAUTHORIZED")) throw error;
        line = `${(error as Error).message}; trying again`;
      }
      if (line !== last) print(`${new Date().toISOString()} ${line}`);
      last = line;
      await sleep(intervalMs, undefined, { signal }).catch(() => {});
    }
  } finally {
    await client.close();
  }
}
