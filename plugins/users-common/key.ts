import { parseContact } from "../users-import/validate.ts";

/** How rows name the user they act on. */
export type UserKey = "email" | "id";

/** The `key` option shared by the users actions that act on existing users. */
export const KEY_OPTION = {
  type: "enum",
  values: ["email", "id"],
  default: "email",
  description: "The CSV column that names each user: email (case-insensitive) or id",
} as const;

/** A row's user reference: its de-duplication key and data, or why it names no user. */
export function parseUserRef(record: Record<string, string>, key: UserKey): { key: string; data: { id: number } | { email: string } } | { error: string } {
  if (key === "id") {
    const raw = (record.id ?? "").trim();
    if (!/^[1-9]\d{0,14}$/.test(raw)) return { error: `id \`${raw.slice(0, 40)}\` is not a user id (a whole number)` };
    return { key: raw, data: { id: Number(raw) } };
  }
  const contact = parseContact({ email: record.email ?? "" });
  if ("error" in contact) return contact;
  return { key: contact.key, data: { email: contact.data.email } };
}

/**
 * SQL (CTEs) naming, for every staged row, the account's user it refers to: `target(row_number,
 * d, id)`, where `d` is the row's data with `patch` merged in and `id` is null when no user
 * matches. A row names its user by id (a CSV keyed by id, a filter's snapshot, a retry of either)
 * or by email; each kind gets its own join (one join on either key, split by a condition on the
 * data, was misjudged and scanned).
 *
 * Each lookup is a lateral subquery with `limit 1`, which the planner cannot merge into the join:
 * so every row is one index lookup on its full key, whatever the statistics say. As plain joins,
 * an account whose users were added since the table was last analyzed looked like one user, and
 * the planner scanned all of the account's users for every row instead (a 500-row chunk of a
 * delete took 25–50 s with 19 000 users in the account). The account of a user found by id is
 * checked outside the subquery, so that lookup can only take the primary key.
 * Bindings, in order: patch (jsonb), account id, account id.
 */
export function targetCtes(staged: string): string {
  return `input as (select row_number, data || ?::jsonb as d from ${staged}),
  target as (
    select i.row_number, i.d, u.id from input i
      left join lateral (select u.id, u.account_id from bulkrun.users u where u.id = (i.d->>'id')::bigint limit 1) u
        on u.account_id = ?
     where i.d->'id' is not null
    union all
    select i.row_number, i.d, u.id from input i
      left join lateral (select u.id from bulkrun.users u where u.account_id = ? and lower(u.email) = lower(i.d->>'email') limit 1) u
        on true
     where i.d->'id' is null)`;
}

/**
 * SQL: the user `u` still has the email its row `t` of {@link targetCtes} named it by (rows that
 * name users by id always do). In the WHERE of an update or delete it is checked again on the
 * row version the statement writes, after waiting for its lock: a user whose email another
 * transaction changed meanwhile is no longer the one the row named.
 */
export const STILL_NAMED = "(t.d->'id' is not null or lower(u.email) = lower(t.d->>'email'))";
