import type { Knex } from "knex";

/** Per staged row: the user it wrote, and whether the user was new. No id: nothing was written. */
export interface UpsertResult {
  row_number: number;
  id: number | null;
  inserted: boolean | null;
}

function input(staged: string): string {
  return `input as (
    select row_number, data->>'email' as email, data->>'name' as name, data->>'phone' as phone from ${staged})`;
}

/**
 * One statement per chunk. Existing users (same account, same lower(email)) get the new name and
 * phone, where given; a row that changes nothing is not written at all (no heap, index or WAL
 * writes), which makes re-imports cheap.
 */
const upsert = (staged: string) => `with ${input(staged)},
written as (
  insert into bulkrun.users as u (account_id, email, name, phone)
  select ?, email, name, phone from input
  on conflict (account_id, lower(email)) do update
     set name = coalesce(excluded.name, u.name), phone = coalesce(excluded.phone, u.phone), updated_at = now()
   where (u.name, u.phone) is distinct from (coalesce(excluded.name, u.name), coalesce(excluded.phone, u.phone))
  returning u.id, lower(u.email) as key, xmax = 0 as inserted)
select i.row_number, w.id, w.inserted from input i left join written w on w.key = lower(i.email)`;

/** Inserts only the users that are new; existing ones are left alone. */
const insertNew = (staged: string) => `with ${input(staged)},
written as (
  insert into bulkrun.users as u (account_id, email, name, phone)
  select ?, email, name, phone from input
  on conflict (account_id, lower(email)) do nothing
  returning u.id, lower(u.email) as key, true as inserted)
select i.row_number, w.id, w.inserted from input i left join written w on w.key = lower(i.email)`;

export async function upsertContacts(
  db: Knex.Transaction,
  staged: string,
  accountId: number,
  onConflict: "update" | "skip",
): Promise<UpsertResult[]> {
  const sql = onConflict === "update" ? upsert(staged) : insertNew(staged);
  const { rows } = await db.raw<{ rows: UpsertResult[] }>(sql, [accountId]);
  return rows;
}
