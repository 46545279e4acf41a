import { loadConfig } from "../config.ts";
import { BulkrunError } from "../errors.ts";
import { parseFlags } from "./args.ts";
import type { Command } from "./command.ts";
import type { Io } from "./runtime.ts";

const USAGE = "bulkrun tui [--url URL] [--token T]";

/** Where a dashboard looks and how it draws: from flags, else the configuration (env). */
export interface DashboardTarget {
  url: string;
  token: string;
  refreshMs: number;
  color: boolean;
}

/**
 * Runs the dashboard against `target` until `q` or Ctrl-C (or `signal`): full-screen on a
 * terminal, else one plain progress line per refresh while something changes. Loaded on demand:
 * commands without a dashboard do not load Ink and React.
 */
export async function showDashboard(target: DashboardTarget, io: Io, signal: AbortSignal, interactive: boolean): Promise<void> {
  if (interactive) {
    const { runDashboard } = await import("../../tui/run.ts");
    await runDashboard(target, target, signal);
    return;
  }
  const { printProgress } = await import("../../tui/plain.ts");
  await printProgress(target, target.refreshMs, io.out, signal);
}

/** An AbortSignal that fires on the first SIGINT or SIGTERM. */
export function untilInterrupted(): AbortSignal {
  const controller = new AbortController();
  const stop = () => {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    controller.abort();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  return controller.signal;
}

export const tui: Command = {
  name: "tui",
  summary: "the terminal dashboard: runners, queue, rows/s, accounts, actions; pause, resume, cancel, retry (a client of the API)",
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, { url: { type: "string" }, token: { type: "string" } }, USAGE);
    if (positionals.length) throw new BulkrunError("BULKRUN_ERR_USAGE", `unexpected \`${positionals[0]}\` (usage: ${USAGE})`);
    const { dashboard } = await loadConfig();
    const token = values.token ?? dashboard.token;
    if (!token) {
      throw new BulkrunError(
        "BULKRUN_ERR_USAGE",
        `give the API token with --token T or BULKRUN_TOKEN; \`bulkrun tokens create --admin\` makes one that sees every account (usage: ${USAGE})`,
      );
    }
    const target = { url: values.url ?? dashboard.url, token, refreshMs: dashboard.refreshMs, color: dashboard.color };
    await showDashboard(target, io, untilInterrupted(), Boolean(process.stdout.isTTY));
    return 0;
  },
};
