import { findAction, listActions } from "../engine/actions.ts";
import { listRunners, type RunnerRow } from "../engine/heartbeat.ts";
import { prunedNote } from "../engine/ledger-export.ts";
import { accountQuotas } from "../engine/rate-limit.ts";
import { BulkrunError } from "../errors.ts";
import { intFlag, parseFlags } from "./args.ts";
import type { Command } from "./command.ts";
import { count, progressLine, summaryLine } from "./progress.ts";
import { withRuntime, type Io } from "./runtime.ts";

const USAGE = "bulkrun status [action-id]";

export const status: Command = {
  name: "status",
  summary: "list recent bulk actions and the runner processes, or show one action",
  usage: USAGE,
  async run(argv, io) {
    const { positionals } = parseFlags(argv, {}, USAGE);
    if (positionals.length > 1) throw new BulkrunError("BULKRUN_ERR_USAGE", `usage: ${USAGE}`);
    const id = intFlag("action-id", positionals[0], 1, Number.MAX_SAFE_INTEGER);
    return withRuntime(io, async ({ db, config }) => {
      if (id === undefined) {
        io.out(["id", "account", "type", "status", "processed/total", "created", "updated", "skipped", "failed"].join("\t"));
        for (const a of await listActions(db.knex)) {
          io.out([a.id, a.account, a.type, a.status, `${count(a.processed)}/${count(a.total ?? 0)}`, a.created, a.updated, a.skipped, a.failed].join("\t"));
        }
        printRunners(io, await listRunners(db.knex, config.worker.deadAfterMs));
        return 0;
      }
      const action = await findAction(db.knex, id);
      if (!action) throw new BulkrunError("BULKRUN_ERR_UNKNOWN_ACTION", `there is no bulk action ${id}; list them with \`bulkrun status\``);
      io.out(["completed", "failed", "cancelled"].includes(action.status) ? summaryLine(action) : progressLine(action));
      for (const warning of action.warnings) io.out(`warning: ${warning}`);
      const pruned = prunedNote(action);
      if (pruned) io.out(`ledger: ${pruned}`);
      const quota = (await accountQuotas(db.knex, config.rateLimitWindowMs)).get(action.account_id);
      if (quota) {
        io.out(`rate limit of its account: ${count(quota.rows_available)} rows available now; full quota at ${quota.full_at.toISOString()}`);
      }
      return 0;
    });
  },
};

/** The runner processes: live ones, and dead ones (with who released their jobs). */
function printRunners(io: Io, runners: RunnerRow[]): void {
  if (runners.length === 0) {
    io.err("no runner process is running; start one with `bulkrun start` or `bulkrun worker`");
    return;
  }
  io.out("");
  io.out(["runner", "pid", "host", "started", "last beat", "state"].join("\t"));
  for (const r of runners) {
    const state = r.alive ? "alive" : r.recovered_by ? `dead (jobs released by ${r.recovered_by})` : "dead";
    io.out([r.id, r.pid, r.host, r.started_at.toISOString().replace(/\.\d+Z$/, "Z"), `${(r.silent_ms / 1000).toFixed(1)} s ago`, state].join("\t"));
  }
}
