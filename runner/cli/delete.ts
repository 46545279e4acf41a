import { actionCommand } from "./action-command.ts";
import { keyOption } from "./key-flag.ts";

export const deleteCommand = actionCommand({
  name: "delete",
  type: "users.delete",
  summary: "delete users listed in a CSV (by email or id) or matching a --where filter",
  flags: { key: { type: "string" } },
  flagsUsage: "[--key email|id]",
  options: (values) => keyOption(values.key),
  filter: true,
});
