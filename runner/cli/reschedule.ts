import { rescheduleAction } from "../engine/schedules.ts";
import { BulkrunError } from "../errors.ts";
import { intFlag, parseFlags } from "./args.ts";
import type { Command } from "./command.ts";
import { withRuntime } from "./runtime.ts";
import { timeFlag } from "./time-flag.ts";

const USAGE = "bulkrun reschedule <action-id> --at <time with zone, e.g. 2030-01-31T09:00:00Z>";

export const reschedule: Command = {
  name: "reschedule",
  summary: "move a scheduled action (import --at) to another start time",
  usage: "bulkrun reschedule <id> --at TIME",
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, { at: { type: "string" } }, USAGE);
    if (positionals.length !== 1) throw new BulkrunError("BULKRUN_ERR_USAGE", `usage: ${USAGE}`);
    const id = intFlag("action-id", positionals[0], 1, Number.MAX_SAFE_INTEGER)!;
    const runAt = timeFlag("at", values.at);
    if (!runAt) throw new BulkrunError("BULKRUN_ERR_USAGE", `--at is required (usage: ${USAGE})`);
    return withRuntime(io, async ({ db }) => {
      const action = await rescheduleAction(db.knex, id, runAt);
      io.out(`bulk action ${action.id} starts at ${action.run_at!.toISOString()}`);
      return 0;
    });
  },
};
