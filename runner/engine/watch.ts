import type { Database } from "../db/database.ts";
import { findAction, FINAL_STATUSES, type ActionRow } from "./actions.ts";

/**
 * Calls `onChange` with the action whenever it changes (LISTEN/NOTIFY, with a slow poll as a
 * safety net) and resolves with it once it reaches a final status.
 */
export async function watchAction(
  db: Database,
  id: number,
  onChange: (action: ActionRow) => void,
  pollMs = 1000,
): Promise<ActionRow> {
  const listener = await db.pool.connect();
  let wake: () => void = () => {};
  const onNotification = (message: { payload?: string }) => {
    if (message.payload && (JSON.parse(message.payload) as { id: number }).id === id) wake();
  };
  listener.on("notification", onNotification);
  try {
    await listener.query('listen "bulkrun:action"');
    for (;;) {
      const action = await findAction(db.knex, id);
      if (!action) throw new Error(`bulk action ${id} disappeared`);
      onChange(action);
      if (FINAL_STATUSES.includes(action.status)) return action;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    await listener.query('unlisten "bulkrun:action"').catch(() => {});
    // The connection goes back to the pool: it must not keep this watcher's handler.
    listener.off("notification", onNotification);
    listener.release();
  }
}
