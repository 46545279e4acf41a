import { BulkrunError } from "../../runner/errors.ts";
import { defineAction, type ParsedRow } from "../../runner/plugin.ts";
import { USERS_FILTER } from "../users-common/filter.ts";
import { KEY_OPTION, parseUserRef, type UserKey } from "../users-common/key.ts";
import { checkField, WRITABLE } from "./fields.ts";
import { updateUsers } from "./queries.ts";

const SETTABLE = ["name", "phone", "status"] as const;

/** The fields a row sets, keyed like the users table; empty cells are left out (no change). */
function parseUpdate(record: Record<string, string>, key: UserKey, hasPatch: boolean): ParsedRow<Record<string, unknown>> {
  const ref = parseUserRef(record, key);
  if ("error" in ref) return ref;
  const data: Record<string, unknown> = { ...ref.data };
  for (const field of WRITABLE) {
    if (field === key || record[field] === undefined || record[field]!.trim() === "") continue;
    const checked = checkField(field, record[field]!);
    if ("error" in checked) return checked;
    data[field] = checked.value;
  }
  if (Object.keys(data).length === 1 && !hasPatch) {
    return { error: `the row changes nothing: fill at least one of ${WRITABLE.filter((f) => f !== key).join(", ")}` };
  }
  return { key: ref.key, data };
}

/** Sets fields of existing users, named by a CSV (by email or id) or chosen by a filter. */
export default defineAction({
  name: "users.update",
  description: "Update fields of existing users from a CSV (by email or id) or a filter plus values",
  options: {
    key: KEY_OPTION,
    set: { type: "record", keys: SETTABLE, description: "Values set on every row, e.g. {\"status\": \"inactive\"}; null clears a field" },
  },
  check(options) {
    for (const [field, value] of Object.entries(options.set ?? {})) {
      if (value === null) continue;
      const checked = checkField(field as (typeof SETTABLE)[number], value);
      if ("error" in checked || checked.value !== value) {
        const problem = "error" in checked ? checked.error : `write it as \`${checked.value}\``;
        throw new BulkrunError("BULKRUN_ERR_OPTIONS", `users.update: option \`set.${field}\`: ${problem}`);
      }
    }
  },
  outcomes: { updated: "updated", unchanged: "skipped", not_found: "skipped", email_taken: "failed", changed_meanwhile: "failed" },
  csv: {
    columns: (options) => (options.key === "id" ? ["id", ...WRITABLE] : [...WRITABLE]),
    required: (options) => [options.key],
    unknownColumns: "reject",
    parse: (record, options) => parseUpdate(record, options.key, options.set !== undefined),
  },
  filter: USERS_FILTER,
  chunkQuery: ({ staged, accountId, options }) => updateUsers(staged, accountId, options.set ?? {}),
});
