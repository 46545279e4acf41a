import type { Knex } from "knex";

/**
 * Records how many jobs a runner works on at once, beside its heartbeat row, so that the API
 * can show worker slots busy out of all (`runnerSummary`) across every runner on the database.
 */
export async function recordCapacity(db: Knex, runnerId: string, concurrency: number): Promise<void> {
  await db.raw("update bulkrun_private.runners set concurrency = ? where id = ?", [concurrency, runnerId]);
}
