import { findAction, listActions } from "../engine/actions.ts";
import { BulkrunError } from "../errors.ts";
import { intFlag, parseFlags } from "./args.ts";
import type { Command } from "./command.ts";
import { count, progressLine, summaryLine } from "./progress.ts";
import { withRuntime } from "./runtime.ts";

const USAGE = "bulkrun status [action-id]";

export const status: Command = {
  name: "status",
  summary: "list recent bulk actions, or show one",
  usage: USAGE,
  async run(argv, io) {
    const { positionals } = parseFlags(argv, {}, USAGE);
    if (positionals.length > 1) throw new BulkrunError("BULKRUN_ERR_USAGE", `usage: ${USAGE}`);
    const id = intFlag("action-id", positionals[0], 1, Number.MAX_SAFE_INTEGER);
    return withRuntime(io, async ({ db }) => {
      if (id === undefined) {
        io.out(["id", "account", "type", "status", "processed/total", "created", "updated", "skipped", "failed"].join("\t"));
        for (const a of await listActions(db.knex)) {
          io.out([a.id, a.account, a.type, a.status, `${count(a.processed)}/${count(a.total ?? 0)}`, a.created, a.updated, a.skipped, a.failed].join("\t"));
        }
        return 0;
      }
      const action = await findAction(db.knex, id);
      if (!action) throw new BulkrunError("BULKRUN_ERR_UNKNOWN_ACTION", `there is no bulk action ${id}; list them with \`bulkrun status\``);
      io.out(["completed", "failed", "cancelled"].includes(action.status) ? summaryLine(action) : progressLine(action));
      for (const warning of action.warnings) io.out(`warning: ${warning}`);
      return 0;
    });
  },
};
