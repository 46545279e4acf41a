import { BulkrunError } from "../errors.ts";
import { actionCommand } from "./action-command.ts";
import { keyOption } from "./key-flag.ts";

/** `--set field=value` (repeatable); an empty value clears the field. */
function setOption(values: unknown): { set?: Record<string, string | null> } {
  const pairs = (values as string[] | undefined) ?? [];
  if (pairs.length === 0) return {};
  const set: Record<string, string | null> = {};
  for (const pair of pairs) {
    const at = pair.indexOf("=");
    if (at <= 0) throw new BulkrunError("BULKRUN_ERR_USAGE", `--set takes field=value, e.g. --set status=inactive (got \`${pair}\`)`);
    set[pair.slice(0, at)] = pair.slice(at + 1) || null;
  }
  return { set };
}

export const update = actionCommand({
  name: "update",
  type: "users.update",
  summary: "update fields of existing users from a CSV (by email or id) or a --where filter with --set",
  flags: { key: { type: "string" }, set: { type: "string", multiple: true } },
  flagsUsage: "[--key email|id] [--set field=value ...]",
  options: (values) => ({ ...keyOption(values.key), ...setOption(values.set) }),
  filter: true,
});
