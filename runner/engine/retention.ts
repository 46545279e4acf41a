import type { EngineContext } from "./context.ts";
import { pruneLedgers } from "./prune.ts";

/** Ledger retention on a timer, as every runner process runs it. */
export interface Retention {
  /** Stops pruning: a batch under way finishes, the rest waits for the next prune. */
  stop(): Promise<void>;
}

/**
 * Prunes the ledgers `config.retention` says to (prune.ts), at once and then every
 * `retention.intervalMs`: a runner that was down for a week catches up when it starts. Every
 * runner runs it and one prunes at a time: the others find the advisory lock taken and skip that
 * round. Does nothing when `retention.olderThan` is null.
 */
export function startRetention(ctx: EngineContext): Retention {
  const { olderThan, olderThanMs, keepFailed, intervalMs, batchSize } = ctx.config.retention;
  if (olderThanMs === null) return { stop: async () => {} };
  const stopping = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let failing = false;
  const round = async () => {
    try {
      const result = await pruneLedgers(ctx.db, { olderThanMs, keepFailed, batchSize, ifBusy: "skip", signal: stopping.signal });
      if (result && result.actions > 0) {
        ctx.log(
          `ledger retention (${olderThan}${keepFailed ? ", failed rows kept" : ""}): pruned the ledgers of ${result.actions} ` +
            `action${result.actions === 1 ? "" : "s"} that finished before ${result.before.toISOString()}: ` +
            `${result.rows} rows and ${result.chunks} chunks removed`,
        );
      }
      failing = false;
    } catch (error) {
      if (!failing) ctx.log(`ledger retention failed (trying again in ${intervalMs} ms): ${(error as Error).message}`);
      failing = true;
    }
    if (!stopping.signal.aborted) {
      timer = setTimeout(() => (running = round()), intervalMs);
      timer.unref();
    }
  };
  let running = round();
  return {
    async stop() {
      stopping.abort();
      clearTimeout(timer);
      await running;
    },
  };
}
