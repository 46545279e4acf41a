import type { Knex } from "knex";
import type { ActionRow } from "./actions.ts";
import { translateTransitionError } from "./actions.ts";

/** The controls a person has over an action; each is one SQL function shared with psql and the API. */
export type Control = "pause" | "resume" | "cancel" | "retry" | "apply";

const FUNCTIONS: Record<Control, string> = {
  pause: "bulkrun.pause_action",
  resume: "bulkrun.resume_action",
  cancel: "bulkrun.cancel_action",
  retry: "bulkrun.retry_action",
  apply: "bulkrun.apply_dry_run",
};

/**
 * Pauses, resumes or cancels the action, or starts its follow-up (retry the failed rows, apply a
 * dry run); returns the action changed or created.
 */
export async function controlAction(db: Knex, control: Control, actionId: number): Promise<ActionRow> {
  try {
    const { rows } = await db.raw<{ rows: ActionRow[] }>(`select * from ${FUNCTIONS[control]}(?)`, [actionId]);
    return rows[0]!;
  } catch (cause) {
    throw translateTransitionError(cause);
  }
}
