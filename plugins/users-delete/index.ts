import { defineAction } from "../../runner/plugin.ts";
import { USERS_FILTER } from "../users-common/filter.ts";
import { KEY_OPTION, parseUserRef } from "../users-common/key.ts";
import { deleteUsers } from "./queries.ts";

/** Deletes users named by a CSV of emails or ids, or chosen by a filter. */
export default defineAction({
  name: "users.delete",
  description: "Delete users listed in a CSV (by email or id) or matching a filter",
  options: { key: KEY_OPTION },
  outcomes: { deleted: "deleted", not_found: "skipped" },
  csv: {
    columns: (options) => [options.key],
    required: (options) => [options.key],
    parse: (record, options) => parseUserRef(record, options.key),
  },
  filter: USERS_FILTER,
  async processChunk({ db, staged, accountId }) {
    const results = await deleteUsers(db, staged, accountId);
    return results.map((r) =>
      r.deleted
        ? { row: r.row_number, outcome: "deleted" as const, entityId: r.id! }
        : { row: r.row_number, outcome: "not_found" as const, error: "no such user in this account" },
    );
  },
});
