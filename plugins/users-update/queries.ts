import type { OutcomeQuery } from "../../runner/plugin.ts";
import { STILL_NAMED, targetCtes } from "../users-common/key.ts";
import { WRITABLE, type Writable } from "./fields.ts";

/**
 * A column's new value for the user `user`: the row's (with `patch` on top) where it gives one,
 * else what the user has. Read from the row version being updated, so a column the row leaves
 * alone keeps a change that another transaction committed while this one waited for the user's
 * lock. The email is written only by rows keyed by id; rows keyed by email cannot change it.
 */
const newValue = (column: Writable, user: string) =>
  column === "email"
    ? `case when t.d->'id' is not null and t.d->'email' is not null then t.d->>'email' else ${user}.email end`
    : `case when t.d->'${column}' is not null then t.d->>'${column}' else ${user}.${column} end`;

/** SQL: the row `t` would change the user `user`. */
const changes = (user: string) =>
  `(${WRITABLE.map((column) => `${user}.${column}`).join(", ")}) is distinct from (${WRITABLE.map((column) => newValue(column, user)).join(", ")})`;

/**
 * One statement per chunk. Every named user gets the row's fields (with `patch` on top); a row
 * that changes nothing writes nothing; an email change onto an address another user of the
 * account has (or another row of this chunk wants) is refused for that row alone. Rows that want
 * the same email are found by grouping, not by comparing every row with every other (quadratic in
 * the chunk's size).
 */
const UPDATE = (staged: string) => `${targetCtes(staged)},
wanted_twice as (
  select lower(d->>'email') as email from target where d->'email' is not null group by 1 having count(*) > 1),
taken as (
  select t.row_number from target t
   where t.id is not null and t.d->'id' is not null and t.d->'email' is not null and (
     exists (select 1 from bulkrun.users o where o.account_id = ? and lower(o.email) = lower(t.d->>'email') and o.id <> t.id)
     or lower(t.d->>'email') in (select email from wanted_twice))),
changed as (
  update bulkrun.users u set ${WRITABLE.map((column) => `${column} = ${newValue(column, "u")}`).join(", ")}, updated_at = now()
    from target t
   where u.id = t.id and ${STILL_NAMED} and not exists (select 1 from taken k where k.row_number = t.row_number) and ${changes("u")}
  returning u.id),
outcomes as (
  select row_number, outcome, entity_id,
         case outcome when 'not_found' then 'no such user in this account'
                      when 'email_taken' then 'another user of the account has this email'
                      when 'unchanged' then 'the user already has these values'
                      when 'changed_meanwhile' then 'another writer changed or deleted the user while this row waited for it; nothing was written (retry the row)'
         end as error
    from (
      select t.row_number,
             case when t.id is null then 'not_found' when k.row_number is not null then 'email_taken'
                  when c.id is not null then 'updated'
                  when exists (select 1 from bulkrun.users s where s.id = t.id and not ${changes("s")}) then 'unchanged'
                  else 'changed_meanwhile' end as outcome,
             case when k.row_number is null then t.id end as entity_id
        from target t left join changed c on c.id = t.id left join taken k on k.row_number = t.row_number) o)`;

export function updateUsers(staged: string, accountId: number, patch: Record<string, string | null>): OutcomeQuery {
  return { sql: UPDATE(staged), bindings: [JSON.stringify(patch), accountId, accountId, accountId] };
}
