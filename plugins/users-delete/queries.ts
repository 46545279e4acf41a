import type { OutcomeQuery } from "../../runner/plugin.ts";
import { STILL_NAMED, targetCtes } from "../users-common/key.ts";

/** One statement per chunk: the named users of the account deleted, and every row's outcome. */
export function deleteUsers(staged: string, accountId: number): OutcomeQuery {
  return {
    sql: `${targetCtes(staged)},
    deleted as (delete from bulkrun.users u using target t where u.id = t.id and ${STILL_NAMED} returning u.id),
    outcomes as (
      select t.row_number,
             case when d.id is null then 'not_found' else 'deleted' end as outcome,
             case when d.id is null then 'no such user in this account' end as error,
             d.id as entity_id
        from target t left join deleted d on d.id = t.id)`,
    bindings: ["{}", accountId, accountId],
  };
}
