import type { Knex } from "knex";

/** Resolves once the database answers a query; rejects with why it does not. */
export async function checkDatabase(db: Knex): Promise<void> {
  await db.raw("select 1");
}
