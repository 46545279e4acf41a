import { defineAction } from "../../runner/plugin.ts";
import { upsertContacts } from "./queries.ts";
import { parseContact } from "./validate.ts";

/** Imports contacts from a CSV (name, email, phone) into bulkrun.users, de-duplicated by email. */
export default defineAction({
  name: "users.import",
  description: "Create or update users from a CSV of name, email, phone",
  options: {
    on_conflict: {
      type: "enum",
      values: ["update", "skip"],
      default: "update",
      description: "What to do with a row whose email already exists: update the user, or skip the row",
    },
  },
  outcomes: {
    created: "created",
    updated: "updated",
    unchanged: "skipped",
    already_exists: "skipped",
  },
  csv: {
    columns: ["email", "name", "phone"],
    required: ["email"],
    parse: (record) => parseContact(record),
  },
  chunkQuery: ({ staged, accountId, options }) => upsertContacts(staged, accountId, options.on_conflict),
});
