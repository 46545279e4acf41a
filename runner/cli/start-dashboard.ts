import { createToken, revokeToken } from "../engine/tokens.ts";
import type { Io, Runtime } from "./runtime.ts";
import { showDashboard } from "./tui.ts";

/** Log lines held back while the dashboard has the screen, and printed once it is gone. */
export function heldLines(io: Io): { io: Io; release(): void } {
  const held: string[] = [];
  let holding = true;
  const hold = (line: string) => (holding ? held.push(line) : io.err(line));
  return {
    io: { ...io, err: hold, status: (line) => (holding ? undefined : io.status(line)) },
    release() {
      holding = false;
      for (const line of held.splice(0)) io.err(line);
    },
  };
}

/**
 * Shows this runner's own dashboard (an admin token made for it, revoked after) until it is
 * closed or `signalled` settles; resolves with why the runner should stop. Without a terminal
 * it prints a progress line per interval instead, until `signalled`.
 */
export async function watchUntilDone(runtime: Runtime, apiUrl: string, io: Io, interactive: boolean, signalled: Promise<string>): Promise<string> {
  const { dashboard } = runtime.config;
  const stop = new AbortController();
  let reason: string | undefined;
  void signalled.then((why) => {
    reason = why;
    stop.abort();
  });
  const token = await createToken(runtime.db.knex, null, `bulkrun start ${process.pid} dashboard`);
  try {
    await showDashboard({ ...dashboard, url: apiUrl, token: token.token }, io, stop.signal, interactive);
  } catch (error) {
    runtime.log(`the dashboard stopped: ${(error as Error).message}`);
  } finally {
    await revokeToken(runtime.db.knex, token.id);
  }
  return reason ?? (interactive ? "dashboard closed" : await signalled);
}
