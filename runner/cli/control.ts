import { controlAction, type Control } from "../engine/control.ts";
import { BulkrunError } from "../errors.ts";
import { intFlag, parseFlags } from "./args.ts";
import type { Command } from "./command.ts";
import { waitFor } from "./wait.ts";
import { withRuntime } from "./runtime.ts";

function controlCommand(name: string, control: Control, summary: string, done: (id: number, result: number) => string): Command {
  const follows = control === "retry" || control === "apply";
  const usage = `bulkrun ${name} <action-id>${follows ? " [--wait]" : ""}`;
  return {
    name,
    summary,
    usage,
    async run(argv, io) {
      const { values, positionals } = parseFlags(argv, follows ? { wait: { type: "boolean" } } : {}, usage);
      if (positionals.length !== 1) throw new BulkrunError("BULKRUN_ERR_USAGE", `usage: ${usage}`);
      const id = intFlag("action-id", positionals[0], 1, Number.MAX_SAFE_INTEGER)!;
      return withRuntime(io, async (runtime) => {
        const action = await controlAction(runtime.db.knex, control, id);
        io.out(done(id, action.id));
        return follows && values.wait ? waitFor(runtime, action, io) : 0;
      });
    },
  };
}

export const pause = controlCommand("pause", "pause", "stop taking new chunks of an action (running chunks finish)", (id) => `paused action ${id}`);
export const resume = controlCommand("resume", "resume", "continue a paused action where it stopped", (id) => `resumed action ${id}`);
export const cancel = controlCommand(
  "cancel",
  "cancel",
  "end an action; rows never applied stay pending in its ledger",
  (id) => `cancelled action ${id}; rows it never applied are pending in \`bulkrun logs ${id} --status pending\``,
);
export const retry = controlCommand(
  "retry",
  "retry",
  "start a child action with the rows that failed when applied",
  (id, child) => `retrying the failed rows of action ${id} as action ${child}`,
);
export const apply = controlCommand(
  "run",
  "apply",
  "apply exactly the plan a dry run evaluated",
  (id, child) => `applying the plan of dry run ${id} as action ${child}`,
);
