import type { Knex } from "knex";
import type { ActionRow } from "../../runner/engine/actions.ts";
import { ENGINE_OUTCOMES, type AnyAction, type OutcomeKind } from "../../runner/plugin.ts";

/**
 * What must hold for a finished action whatever was killed while it ran: it completed, every
 * input row is in the ledger exactly once with a final outcome, its chunks are all done, and
 * its counters equal the ledger's tallies. Returns the violations, as sentences.
 */
export async function checkAction(db: Knex, plugin: AnyAction, action: ActionRow, inputRows: number): Promise<string[]> {
  const problems: string[] = [];
  const say = (problem: string) => problems.push(`action ${action.id} (${action.type}): ${problem}`);
  if (action.status !== "completed") say(`ended ${action.status}: ${action.error_code} ${action.error}`);
  const { rows: [rows] } = await db.raw<{ rows: { n: number; distinct_rows: number; first: number | null; last: number | null; open: number }[] }>(
    `select count(*)::int as n, count(distinct row_number)::int as distinct_rows, min(row_number) as first, max(row_number) as last,
            count(*) filter (where status = 'pending' or outcome is null)::int as open
       from bulkrun.bulk_action_items where action_id = ?`,
    [action.id],
  );
  if (rows!.n !== inputRows || rows!.distinct_rows !== inputRows || (inputRows > 0 && (rows!.first !== 1 || rows!.last !== inputRows))) {
    say(`ledger holds ${rows!.n} entries (${rows!.distinct_rows} row numbers, ${rows!.first}..${rows!.last}) for ${inputRows} input rows`);
  }
  if (rows!.open > 0) say(`${rows!.open} ledger entries have no final outcome`);
  const { rows: chunks } = await db.raw<{ rows: { status: string; n: number }[] }>(
    "select status, count(*)::int as n from bulkrun.bulk_action_chunks where action_id = ? and status <> 'done' group by status",
    [action.id],
  );
  for (const chunk of chunks) say(`${chunk.n} chunks are ${chunk.status}`);
  const tally = await ledgerTally(db, plugin, action.id);
  const counters = { total: action.total, processed: action.processed, created: action.created, updated: action.updated, deleted: action.deleted, skipped: action.skipped, failed: action.failed };
  for (const [name, value] of Object.entries(counters)) {
    const expected = tally[name as keyof typeof tally];
    if (value !== expected) say(`counter ${name} is ${value}, the ledger says ${expected}`);
  }
  return problems;
}

/** The action's counters as its ledger has them, by each outcome's kind. */
async function ledgerTally(db: Knex, plugin: AnyAction, actionId: number) {
  const { rows } = await db.raw<{ rows: { status: string; outcome: string | null; n: number }[] }>(
    "select status, outcome, count(*)::int as n from bulkrun.bulk_action_items where action_id = ? group by status, outcome",
    [actionId],
  );
  const tally: Record<OutcomeKind | "total" | "processed", number> = { total: 0, processed: 0, created: 0, updated: 0, deleted: 0, skipped: 0, failed: 0 };
  for (const { status, outcome, n } of rows) {
    tally.total += n;
    if (status === "pending" || outcome === null) continue;
    tally.processed += n;
    const kind = plugin.outcomes[outcome] ?? ENGINE_OUTCOMES[outcome as keyof typeof ENGINE_OUTCOMES];
    if (kind) tally[kind] += n;
  }
  return tally;
}

/** The lower-case emails of an account's users. */
export async function userKeys(db: Knex, accountId: number): Promise<Set<string>> {
  const { rows } = await db.raw<{ rows: { key: string }[] }>("select lower(email) as key from bulkrun.users where account_id = ?", [accountId]);
  return new Set(rows.map((r) => r.key));
}

/** Says how two sets of emails differ, or nothing when they are equal. */
export function compareKeys(what: string, actual: Set<string>, expected: Set<string>): string[] {
  const missing = [...expected].filter((k) => !actual.has(k));
  const extra = [...actual].filter((k) => !expected.has(k));
  if (missing.length === 0 && extra.length === 0) return [];
  return [`${what}: ${missing.length} missing (e.g. ${missing.slice(0, 3).join(", ") || "-"}), ${extra.length} unexpected (e.g. ${extra.slice(0, 3).join(", ") || "-"})`];
}

/**
 * Once every action has finished, no bulkrun job may be left: a job still locked then belongs to
 * a process that died and was never recovered. Waits up to `withinMs` for the jobs of the last
 * commits to be marked complete (and for the sweeper to release those of a freshly killed worker).
 */
export async function checkNoJobsLeft(db: Knex, withinMs: number): Promise<string[]> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const { rows } = await db.raw<{ rows: { task_identifier: string; locked_by: string | null; attempts: number; last_error: string | null }[] }>(
      "select task_identifier, locked_by, attempts, last_error from graphile_worker.jobs where task_identifier in ('bulkrun.prepare', 'bulkrun.chunk')",
    );
    if (rows.length === 0) return [];
    if (Date.now() > deadline) {
      return rows.map((j) => `a ${j.task_identifier} job is left ${j.locked_by ? `locked by ${j.locked_by}` : "unlocked"} after ${j.attempts} attempts (${j.last_error ?? "no error"})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
