import type { Knex } from "knex";
import type { ModelObject } from "objection";
import { BulkAction } from "../db/models/bulk-action.ts";
import { BulkrunError } from "../errors.ts";

/** A row of `bulkrun.bulk_actions`, as the engine reads it. */
export type ActionRow = ModelObject<BulkAction>;

export type ActionStatus = "scheduled" | "queued" | "preparing" | "running" | "paused" | "completed" | "failed" | "cancelled";

/** What is left of an action's per-row ledger once retention has been at it. */
export type LedgerState = "complete" | "pruning" | "pruning_keep_failed" | "failed_only" | "pruned";

/** Statuses an action never leaves. */
export const FINAL_STATUSES: readonly ActionStatus[] = ["completed", "failed", "cancelled"];

export async function findAction(db: Knex | Knex.Transaction, id: number): Promise<ActionRow | undefined> {
  return BulkAction.query(db).findById(id);
}

/** Moves an action through the one SQL function that knows the allowed transitions. */
export async function transitionAction(
  db: Knex | Knex.Transaction,
  id: number,
  to: ActionStatus,
  error?: { code: string; message: string },
): Promise<ActionRow> {
  try {
    const { rows } = await db.raw<{ rows: ActionRow[] }>(
      "select * from bulkrun_private.transition_action(?, ?, ?, ?)",
      [id, to, error?.code ?? null, error?.message ?? null],
    );
    return rows[0]!;
  } catch (cause) {
    throw translateTransitionError(cause);
  }
}

/** Postgres errors raised by the status and follow-up functions, as bulkrun errors. */
export function translateTransitionError(cause: unknown): unknown {
  const code = (cause as { code?: string }).code;
  // knex puts the failed SQL in front of Postgres's message: "select ... - bulk action 4 is ...".
  const message = (cause as Error).message.replace(/^[\s\S]* - /, "");
  if (code === "BR404") return new BulkrunError("BULKRUN_ERR_UNKNOWN_ACTION", message, { cause });
  if (code === "BR409") return new BulkrunError("BULKRUN_ERR_INVALID_TRANSITION", message, { cause });
  if (code === "BR410") return new BulkrunError("BULKRUN_ERR_LEDGER_PRUNED", message, { cause });
  return cause;
}

/** The most recent actions, newest first, for `bulkrun status`. */
export async function listActions(db: Knex, limit = 20): Promise<(ActionRow & { account: string })[]> {
  const rows = await BulkAction.query(db)
    .select("bulk_actions.*", "accounts.name as account")
    .join("bulkrun.accounts", "accounts.id", "bulk_actions.account_id")
    .orderBy("bulk_actions.id", "desc")
    .limit(limit);
  return rows as (BulkAction & { account: string })[];
}
