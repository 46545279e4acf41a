import { actionCommand } from "./action-command.ts";
import { choiceFlag } from "./args.ts";

export const importCommand = actionCommand({
  name: "import",
  type: "users.import",
  summary: "import users from a CSV file or http(s) URL (name, email, phone)",
  flags: { "on-conflict": { type: "string" } },
  flagsUsage: "[--on-conflict update|skip]",
  options(values) {
    const onConflict = choiceFlag("on-conflict", values["on-conflict"] as string | undefined, ["update", "skip"] as const);
    return onConflict ? { on_conflict: onConflict } : {};
  },
  filter: false,
});
