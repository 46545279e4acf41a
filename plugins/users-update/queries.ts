import type { Knex } from "knex";
import { chunkKey, targetCtes, type UserKey } from "../users-common/key.ts";

/** Per staged row: the user it named (null: none), and what became of it. */
export interface UpdateResult {
  row_number: number;
  id: number | null;
  changed: boolean;
  email_taken: boolean;
}

/**
 * One statement per chunk. Every named user gets the row's fields (with `patch` on top); a row
 * that changes nothing writes nothing; an email change onto an address another user of the
 * account has (or another row of this chunk wants) is refused for that row alone.
 */
const UPDATE = (staged: string, key: UserKey) => `with ${targetCtes(staged, key)},
taken as (
  select t.row_number from target t
   where t.id is not null and t.d->'id' is not null and t.d->'email' is not null and (
     exists (select 1 from bulkrun.users o where o.account_id = ? and lower(o.email) = lower(t.d->>'email') and o.id <> t.id)
     or exists (select 1 from target o where o.row_number <> t.row_number and o.d->'email' is not null and lower(o.d->>'email') = lower(t.d->>'email')))),
planned as (
  select t.row_number, u.id,
         case when t.d->'id' is not null and t.d->'email' is not null then t.d->>'email' else u.email end as email,
         case when t.d->'name' is not null then t.d->>'name' else u.name end as name,
         case when t.d->'phone' is not null then t.d->>'phone' else u.phone end as phone,
         case when t.d->'status' is not null then t.d->>'status' else u.status end as status
    from target t join bulkrun.users u on u.id = t.id
   where not exists (select 1 from taken k where k.row_number = t.row_number)),
changed as (
  update bulkrun.users u set email = p.email, name = p.name, phone = p.phone, status = p.status, updated_at = now()
    from planned p
   where u.id = p.id and (u.email, u.name, u.phone, u.status) is distinct from (p.email, p.name, p.phone, p.status)
  returning u.id)
select t.row_number, t.id, c.id is not null as changed, k.row_number is not null as email_taken
  from target t left join changed c on c.id = t.id left join taken k on k.row_number = t.row_number`;

export async function updateUsers(
  db: Knex.Transaction,
  staged: string,
  accountId: number,
  patch: Record<string, string | null>,
): Promise<UpdateResult[]> {
  const sql = UPDATE(staged, await chunkKey(db, staged));
  const { rows } = await db.raw<{ rows: UpdateResult[] }>(sql, [JSON.stringify(patch), accountId, accountId]);
  return rows;
}
