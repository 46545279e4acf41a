import { defineAction } from "../../runner/plugin.ts";
import { anonymizeUsers } from "./queries.ts";

/**
 * The GDPR erasure case, written against the public plugin contract alone: for each email in the
 * CSV, the account's user keeps its id and history but loses its name, phone and real address.
 */
export default defineAction({
  name: "users.anonymize",
  description: "Scrub the name and phone of the listed users and replace their email with a stable pseudonym",
  options: {},
  outcomes: { anonymized: "updated", already_anonymized: "skipped", not_found: "skipped" },
  csv: {
    columns: ["email"],
    required: ["email"],
    parse(record) {
      const email = (record.email ?? "").trim();
      if (!/^[^\s@]+@[^\s@]+$/.test(email)) return { error: `email \`${email.slice(0, 40)}\` is not an email address` };
      return { key: email.toLowerCase(), data: { email } };
    },
  },
  async processChunk({ db, staged, accountId }) {
    const results = await anonymizeUsers(db, staged, accountId);
    return results.map((r) => {
      if (r.id === null) return { row: r.row_number, outcome: "not_found" as const, error: "no such user in this account" };
      return r.already
        ? { row: r.row_number, outcome: "already_anonymized" as const, entityId: r.id }
        : { row: r.row_number, outcome: "anonymized" as const, entityId: r.id };
    });
  },
});
