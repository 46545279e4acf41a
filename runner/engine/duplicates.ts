import type pg from "pg";

/**
 * Settles "last row wins" for a whole action in one statement: of the pending rows that share a
 * key, all but the last (by row number) become `skipped` / `duplicate_in_file`. Keys are compared
 * byte-wise (collate "C"): equality is all that matters. Returns how many rows it skipped.
 */
export async function markDuplicates(client: pg.PoolClient, actionId: number): Promise<number> {
  // One hash of every key of the action; the default 4 MB would spill a million keys to disk.
  await client.query("set local work_mem = '256MB'");
  const { rowCount } = await client.query(
    `update bulkrun.bulk_action_items i
        set status = 'skipped', outcome = 'duplicate_in_file',
            error = format('row %s has the same key (%s); the last row wins', d.last_row, i.key)
       from (select key collate "C" as key, max(row_number) as last_row
               from bulkrun.bulk_action_items
              where action_id = $1 and status = 'pending'
              group by key collate "C" having count(*) > 1) d
      where i.action_id = $1 and i.status = 'pending' and i.key collate "C" = d.key and i.row_number < d.last_row`,
    [actionId],
  );
  return rowCount ?? 0;
}
