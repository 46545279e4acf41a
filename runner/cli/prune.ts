import { resolveAccount } from "../engine/accounts.ts";
import { pruneLedgers, type PruneResult } from "../engine/prune.ts";
import { BulkrunError } from "../errors.ts";
import { durationFlag, parseFlags } from "./args.ts";
import type { Command } from "./command.ts";
import { count } from "./progress.ts";
import { withRuntime } from "./runtime.ts";

const USAGE = "bulkrun prune --older-than <duration> [--keep-failed] [--account <id|name>]";

export const prune: Command = {
  name: "prune",
  summary:
    "remove the per-row ledger and chunks of actions that finished longer ago than a duration (30m, 12h, 7d); " +
    "the actions and their counts stay (runners also do this on a timer: `retention` in runner.config.ts)",
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals } = parseFlags(
      argv,
      { "older-than": { type: "string" }, "keep-failed": { type: "boolean" }, account: { type: "string" } },
      USAGE,
    );
    if (positionals.length > 0) throw new BulkrunError("BULKRUN_ERR_USAGE", `usage: ${USAGE}`);
    const olderThanMs = durationFlag("older-than", values["older-than"]);
    if (olderThanMs === undefined) throw new BulkrunError("BULKRUN_ERR_USAGE", `--older-than is required, e.g. --older-than 7d (usage: ${USAGE})`);
    const keepFailed = values["keep-failed"] ?? false;
    return withRuntime(io, async ({ db, config, log }) => {
      const account = values.account === undefined ? undefined : await resolveAccount(db.knex, values.account);
      const result = await pruneLedgers(db, {
        olderThanMs,
        keepFailed,
        accountId: account?.id,
        batchSize: config.retention.batchSize,
        ifBusy: "wait",
        log,
        onProgress: (t) => io.status(`pruning: ${count(t.rows)} rows and ${count(t.chunks)} chunks of ${count(t.actions)} action(s) removed`),
      });
      io.status("");
      io.out(summary(result!, keepFailed));
      return 0;
    });
  },
};

function summary(result: PruneResult, keepFailed: boolean): string {
  const before = result.before.toISOString();
  if (result.actions === 0) return `nothing to prune among the actions that finished before ${before}`;
  return (
    `pruned the ledgers of ${amount(result.actions, "action")} that finished before ${before}: ` +
    `${amount(result.rows, "row")} and ${amount(result.chunks, "chunk")} removed in ${amount(result.batches, "batch", "batches")}` +
    (keepFailed ? "; failed rows kept" : "")
  );
}

function amount(n: number, one: string, many = `${one}s`): string {
  return `${count(n)} ${n === 1 ? one : many}`;
}
