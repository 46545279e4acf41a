import { Readable } from "node:stream";
import type { PoolClient } from "pg";
import type { ActionRow } from "../../runner/engine/actions.ts";
import { createAccount } from "../../runner/engine/accounts.ts";
import { submitFile, type ActionRequest } from "../../runner/engine/submit.ts";
import { watchAction } from "../../runner/engine/watch.ts";
import type { TestRuntime } from "./runtime.ts";
import { until } from "./until.ts";

/** Waits for the action to reach a final status, failing the test after `timeoutMs`. */
export async function finished(ctx: TestRuntime, id: number, timeoutMs = 30_000): Promise<ActionRow> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`action ${id} did not finish within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([watchAction(ctx.db, id, () => {}, 200), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Stages a CSV given as text, the way `bulkrun import <file>` does. */
export function submitCsv(ctx: TestRuntime, request: Partial<ActionRequest> & { accountId: number }, csv: string | Buffer) {
  return submitFile(ctx, { type: "users.import", ...request }, Readable.from([Buffer.from(csv)]), "test.csv");
}

let accounts = 0;

/** A new account with a unique name. */
export async function newAccount(ctx: TestRuntime, name = `acct-${++accounts}`) {
  return createAccount(ctx.db.knex, name);
}

/** The ledger of an action in row order. */
export async function ledger(ctx: TestRuntime, actionId: number) {
  const { rows } = await ctx.db.knex.raw<{
    rows: { row_number: number; status: string; outcome: string | null; error: string | null; entity_id: number | null }[];
  }>(
    "select row_number, status, outcome, error, entity_id from bulkrun.bulk_action_items where action_id = ? order by row_number",
    [actionId],
  );
  return rows;
}

/** The users of an account, by lower(email). */
export async function users(ctx: TestRuntime, accountId: number) {
  const { rows } = await ctx.db.knex.raw<{ rows: { id: number; email: string; name: string | null; phone: string | null; updated_at: Date }[] }>(
    "select id, email, name, phone, updated_at from bulkrun.users where account_id = ? order by lower(email)",
    [accountId],
  );
  return rows;
}

/**
 * Runs `csv` as an action of `request` while `other` holds an uncommitted write (made by
 * `hold`) that the action's chunk must wait for; commits it once the chunk waits on its lock.
 */
export async function runAgainstOpenTransaction(
  ctx: TestRuntime,
  request: Partial<ActionRequest> & { accountId: number },
  csv: string,
  hold: (other: PoolClient) => Promise<unknown>,
): Promise<ActionRow> {
  const other = await ctx.db.pool.connect();
  try {
    await other.query("begin");
    await hold(other);
    const { pid } = (await other.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]!;
    const action = await submitCsv(ctx, request, csv);
    await until("the chunk waiting on the open transaction's lock", async () => {
      const { rows } = await ctx.db.knex.raw("select count(*)::int as n from pg_stat_activity where ? = any(pg_blocking_pids(pid))", [pid]);
      return rows[0].n > 0;
    });
    await other.query("commit");
    return await finished(ctx, action.id);
  } finally {
    other.release();
  }
}
