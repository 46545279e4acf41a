import type { Knex } from "knex";
import { arrayParam } from "../../runner/db/array-param.ts";
import type { ChunkRow } from "../../runner/plugin.ts";
import type { ContactRow } from "./validate.ts";

/** Per input row: the user it wrote, and whether the row was new. No id: nothing was written. */
export interface UpsertResult {
  row_number: number;
  id: number | null;
  inserted: boolean | null;
}

const INPUT = `input as (
  select * from unnest(?::int[], ?::text[], ?::text[], ?::text[]) as t(row_number, email, name, phone))`;

/**
 * One statement per chunk. Existing users (same account, same lower(email)) get the new name and
 * phone, where given; a row that changes nothing is not written at all (no heap, index or WAL
 * writes), which makes re-imports cheap.
 */
const UPSERT = `with ${INPUT},
written as (
  insert into bulkrun.users as u (account_id, email, name, phone)
  select ?, email, name, phone from input
  on conflict (account_id, lower(email)) do update
     set name = coalesce(excluded.name, u.name), phone = coalesce(excluded.phone, u.phone), updated_at = now()
   where (u.name, u.phone) is distinct from (coalesce(excluded.name, u.name), coalesce(excluded.phone, u.phone))
  returning u.id, lower(u.email) as key, xmax = 0 as inserted)
select i.row_number, w.id, w.inserted from input i left join written w on w.key = lower(i.email)`;

/** Inserts only the users that are new; existing ones are left alone. */
const INSERT_NEW = `with ${INPUT},
written as (
  insert into bulkrun.users as u (account_id, email, name, phone)
  select ?, email, name, phone from input
  on conflict (account_id, lower(email)) do nothing
  returning u.id, lower(u.email) as key, true as inserted)
select i.row_number, w.id, w.inserted from input i left join written w on w.key = lower(i.email)`;

export async function upsertContacts(
  db: Knex.Transaction,
  accountId: number,
  rows: ChunkRow<ContactRow>[],
  onConflict: "update" | "skip",
): Promise<UpsertResult[]> {
  const { rows: results } = await db.raw<{ rows: UpsertResult[] }>(onConflict === "update" ? UPSERT : INSERT_NEW, [
    rows.map((r) => r.row),
    rows.map((r) => r.data.email),
    arrayParam(rows.map((r) => r.data.name)),
    arrayParam(rows.map((r) => r.data.phone)),
    accountId,
  ]);
  return results;
}
