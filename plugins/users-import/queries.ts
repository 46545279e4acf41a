import type { OutcomeQuery } from "../../runner/plugin.ts";

function input(staged: string): string {
  return `input as (
    select row_number, data->>'email' as email, data->>'name' as name, data->>'phone' as phone from ${staged})`;
}

/**
 * Existing users (same account, same lower(email)) get the new name and phone, where given; a row
 * that changes nothing is not written at all (no heap, index or WAL writes), which makes
 * re-imports cheap.
 */
const UPSERT = `on conflict (account_id, lower(email)) do update
     set name = coalesce(excluded.name, u.name), phone = coalesce(excluded.phone, u.phone), updated_at = now()
   where (u.name, u.phone) is distinct from (coalesce(excluded.name, u.name), coalesce(excluded.phone, u.phone))`;

/** With `skip`, existing users are left alone. */
const INSERT_NEW = "on conflict (account_id, lower(email)) do nothing";

/** What a row that wrote nothing reports, for each conflict mode. */
const NOT_WRITTEN = {
  update: { outcome: "unchanged", error: "the user already has these values" },
  skip: { outcome: "already_exists", error: "a user with this email exists" },
} as const;

/**
 * One statement per chunk: the staged contacts written as users, and every row's outcome (the user
 * it wrote and whether it was new; nothing written: unchanged or already there).
 */
export function upsertContacts(staged: string, accountId: number, onConflict: "update" | "skip"): OutcomeQuery {
  const skipped = NOT_WRITTEN[onConflict];
  return {
    sql: `${input(staged)},
    written as (
      insert into bulkrun.users as u (account_id, email, name, phone)
      select ?, email, name, phone from input
      ${onConflict === "update" ? UPSERT : INSERT_NEW}
      returning u.id, lower(u.email) as key, xmax = 0 as inserted),
    outcomes as (
      select i.row_number,
             case when w.id is null then ? when w.inserted then 'created' else 'updated' end as outcome,
             case when w.id is null then ? end as error,
             w.id as entity_id
        from input i left join written w on w.key = lower(i.email))`,
    bindings: [accountId, skipped.outcome, skipped.error],
  };
}
