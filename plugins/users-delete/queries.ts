import type { Knex } from "knex";
import { chunkKey, targetCtes } from "../users-common/key.ts";

/** Per staged row: the user it named (null: none) and whether this statement deleted it. */
export interface DeleteResult {
  row_number: number;
  id: number | null;
  deleted: boolean;
}

/** Deletes the named users of the account in one statement. */
export async function deleteUsers(db: Knex.Transaction, staged: string, accountId: number): Promise<DeleteResult[]> {
  const { rows } = await db.raw<{ rows: DeleteResult[] }>(
    `with ${targetCtes(staged, await chunkKey(db, staged))},
     deleted as (delete from bulkrun.users u using target t where u.id = t.id returning u.id)
     select t.row_number, t.id, d.id is not null as deleted from target t left join deleted d on d.id = t.id`,
    ["{}", accountId],
  );
  return rows;
}
