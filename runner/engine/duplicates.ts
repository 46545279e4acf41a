import type pg from "pg";

/**
 * Settles "last row wins" for a whole action in one statement: of the pending rows that share a
 * key, all but the last (by row number) become `skipped` / `duplicate_in_file`. Keys are compared
 * byte-wise (collate "C"): equality is all that matters. `suspects` are the only keys that may
 * repeat (see SeenKeys): with them, only their rows are grouped; without, every row is. Returns
 * how many rows it skipped.
 */
export async function markDuplicates(client: pg.PoolClient, actionId: number, suspects?: string[]): Promise<number> {
  if (suspects?.length === 0) return 0;
  // One hash of every key of the action; the default 4 MB would spill a million keys to disk.
  if (!suspects) await client.query("set local work_mem = '256MB'");
  const among = (alias: string) => (suspects ? `and ${alias}key = any($2::text[])` : "");
  const { rowCount } = await client.query(
    `update bulkrun.bulk_action_items i
        set status = 'skipped', outcome = 'duplicate_in_file',
            error = format('row %s has the same key (%s); the last row wins', d.last_row, i.key)
       from (select key collate "C" as key, max(row_number) as last_row
               from bulkrun.bulk_action_items
              where action_id = $1 and status = 'pending' ${among("")}
              group by key collate "C" having count(*) > 1) d
      where i.action_id = $1 and i.status = 'pending' ${among("i.")} and i.key collate "C" = d.key and i.row_number < d.last_row`,
    suspects ? [actionId, suspects] : [actionId],
  );
  return rowCount ?? 0;
}
