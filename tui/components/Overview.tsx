import { Box, Text } from "ink";
import { compact, count, duration, fit } from "../format.ts";
import { recentRate } from "../recent-rate.ts";
import type { AccountState, Overview as OverviewData } from "../model.ts";
import { useColor } from "../theme.ts";
import { Sparkline } from "./Sparkline.tsx";

/** Props of {@link Overview}. */
export interface OverviewProps {
  data: OverviewData;
  /** Columns available. */
  width: number;
  /** The clock the quota times are shown against. */
  now: number;
}

function accountText(account: AccountState, now: number): string {
  if (account.rateLimitPerMinute === null) return `${account.name} unlimited`;
  const available = account.rowsAvailable === null ? "" : ` ${compact(account.rowsAvailable)} left`;
  const full = account.quotaFullAt && account.quotaFullAt.getTime() > now ? `, full in ${duration(account.quotaFullAt.getTime() - now)}` : "";
  const limited = account.rowsAvailable === 0 ? " LIMITED" : "";
  return `${account.name} ${compact(account.rateLimitPerMinute)}/min${available}${full}${limited}`;
}

/** The top of the screen: runners, workers, queue, rows per second over the last minute, accounts. */
export function Overview({ data, width, now }: OverviewProps) {
  const color = useColor();
  const { runners, queue, throughput } = data;
  const current = recentRate(throughput);
  const runnerText = runners
    ? `runners ${runners.alive} alive${runners.dead ? `, ${runners.dead} dead` : ""} · workers ${runners.workersBusy}/${runners.workersTotal} busy`
    : "runners - (admin token only)";
  const queueText = `queue ${queue.queuedActions} waiting, ${queue.activeActions} active, ${count(queue.pendingChunks)} chunks / ${compact(queue.pendingRows)} rows to go`;
  const rateLabel = `rows/s ${compact(current).padStart(5)} `;
  const rateSpan = " (last 60 s)";
  const accounts = data.accounts.map((a) => accountText(a, now)).join(" · ");
  return (
    <Box flexDirection="column">
      <Text>
        <Text color={runners && runners.alive === 0 ? color("red") : undefined}>{fit(runnerText, width)}</Text>
      </Text>
      <Text>{fit(queueText, width)}</Text>
      <Text>
        {rateLabel}
        <Sparkline values={throughput} width={Math.max(10, Math.min(60, width - rateLabel.length - rateSpan.length))} />
        {rateSpan}
      </Text>
      <Text>{fit(`accounts ${accounts || "-"}`, width)}</Text>
    </Box>
  );
}
