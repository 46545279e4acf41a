import type { Knex } from "knex";

/** Per staged row: the user it named (null: none), and whether it was anonymized before. */
export interface AnonymizeResult {
  row_number: number;
  id: number | null;
  already: boolean;
}

/**
 * Scrubs name and phone and replaces the email with a stable pseudonym (the same address always
 * gives the same one). A user whose email already is a pseudonym is left alone; that is checked
 * on the row version being updated, so a user another transaction anonymized while this one
 * waited for its lock is not scrubbed a second time. Each user is looked up on its full key (a
 * lateral `limit 1` subquery, which the planner keeps apart from the join): as a plain join, an
 * account whose users were added since the table was last analyzed looked like one user, and all
 * of its users were scanned for every row.
 */
const ANONYMIZE = (staged: string) => `with matched as (
  select s.row_number, u.id
    from ${staged} s
    left join lateral (select u.id from bulkrun.users u where u.account_id = ? and lower(u.email) = lower(s.data->>'email') limit 1) u on true),
scrubbed as (
  update bulkrun.users u
     set email = 'anon-' || left(encode(sha256(convert_to(lower(u.email), 'UTF8')), 'hex'), 24) || '@anonymized.invalid',
         name = null, phone = null, updated_at = now()
    from matched m
   where u.id = m.id and u.email not like 'anon-%@anonymized.invalid'
  returning u.id)
select m.row_number, m.id, m.id is not null and s.id is null as already
  from matched m left join scrubbed s on s.id = m.id`;

export async function anonymizeUsers(db: Knex.Transaction, staged: string, accountId: number): Promise<AnonymizeResult[]> {
  const { rows } = await db.raw<{ rows: AnonymizeResult[] }>(ANONYMIZE(staged), [accountId]);
  return rows;
}
