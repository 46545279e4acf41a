import type { ActionRow } from "../engine/actions.ts";
import { liveRunners } from "../engine/heartbeat.ts";
import { watchAction } from "../engine/watch.ts";
import { progressLine, summaryLine } from "./progress.ts";
import type { Io, Runtime } from "./runtime.ts";

/** Shows progress until the action ends; non-zero unless it completed. */
export async function waitFor(runtime: Runtime, action: ActionRow, io: Io): Promise<number> {
  if ((await liveRunners(runtime.db.knex, runtime.config.worker.deadAfterMs)) === 0) {
    io.err("warning: no runner process is alive; the action waits until one starts (`bulkrun start` or `bulkrun worker`)");
  }
  let lastPrinted = 0;
  const final = await watchAction(runtime.db, action.id, (current) => {
    const now = Date.now();
    if (io.isTTY) io.status(progressLine(current, now));
    else if (now - lastPrinted >= 2000) {
      lastPrinted = now;
      io.err(progressLine(current, now));
    }
  });
  if (io.isTTY) io.status("");
  io.out(summaryLine(final));
  if (final.status === "completed") return 0;
  io.err(`bulkrun: action ${final.id} ended ${final.status}${final.error ? `: ${final.error}` : ""} [${final.error_code ?? "BULKRUN_ERR_ACTION_FAILED"}]`);
  return 1;
}
