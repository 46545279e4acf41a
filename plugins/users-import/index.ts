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
  async processChunk({ db, staged, accountId, options }) {
    const results = await upsertContacts(db, staged, accountId, options.on_conflict);
    return results.map((r) => {
      if (r.id === null) {
        return options.on_conflict === "update"
          ? { row: r.row_number, outcome: "unchanged" as const, error: "the user already has these values" }
          : { row: r.row_number, outcome: "already_exists" as const, error: "a user with this email exists" };
      }
      return { row: r.row_number, outcome: r.inserted ? ("created" as const) : ("updated" as const), entityId: r.id };
    });
  },
});
