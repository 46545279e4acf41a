import { render } from "ink";
import { createElement } from "react";
import { App } from "./App.tsx";
import { GraphqlClient, type ApiTarget } from "./client.ts";

/** How the dashboard runs. */
export interface DashboardOptions {
  refreshMs: number;
  color: boolean;
}

/**
 * Draws the dashboard full-screen (the terminal's alternate screen, as htop does) until `q`,
 * Ctrl-C or `signal`; at most ten redraws a second. Fails with BULKRUN_ERR_UNAUTHORIZED when the
 * API refuses the token.
 */
export async function runDashboard(target: ApiTarget, options: DashboardOptions, signal?: AbortSignal): Promise<void> {
  const client = new GraphqlClient(target);
  const instance = render(createElement(App, { client, refreshMs: options.refreshMs, color: options.color }), {
    alternateScreen: true,
    // Callers draw the dashboard only on a terminal; left to itself, Ink draws nothing until exit
    // whenever CI is set, even on a terminal.
    interactive: true,
    maxFps: 10,
    exitOnCtrlC: true,
    patchConsole: false,
  });
  const stop = () => instance.unmount();
  signal?.addEventListener("abort", stop, { once: true });
  try {
    await instance.waitUntilExit();
  } finally {
    signal?.removeEventListener("abort", stop);
    await client.close();
  }
}
