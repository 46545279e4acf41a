import type { Knex } from "knex";
import type pg from "pg";
import { BulkrunError } from "../errors.ts";
import type { AnyAction } from "../plugin.ts";
import { applyFilter, parseFilter } from "./filter.ts";

/**
 * Stages the ids a filter matches right now, in the caller's transaction: entities created later
 * are not touched, and the action has a true total from the start. Returns the rows staged.
 */
export async function snapshotFilter(
  client: pg.PoolClient,
  knex: Knex,
  plugin: AnyAction,
  action: { id: number; account_id: number },
  where: unknown,
): Promise<number> {
  if (!plugin.filter) {
    throw new BulkrunError("BULKRUN_ERR_SOURCE", `${plugin.name} does not take a filter; give it CSV rows`);
  }
  const matching = applyFilter(plugin.filter.table(knex, action.account_id), parseFilter(where, plugin.filter.fields), plugin.filter.fields);
  const { sql, bindings } = knex
    .raw(
      `insert into bulkrun.bulk_action_items (action_id, row_number, key, data)
       select ?, row_number() over (order by m.id), m.id::text, jsonb_build_object('id', m.id)
         from (?) m`,
      [action.id, matching],
    )
    .toSQL()
    .toNative();
  const result = await client.query(sql, bindings as unknown[]);
  return result.rowCount ?? 0;
}
