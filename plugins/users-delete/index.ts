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
  chunkQuery: ({ staged, accountId }) => deleteUsers(staged, accountId),
});
