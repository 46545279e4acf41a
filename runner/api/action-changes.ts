import type { GrafastSubscriber, Step } from "postgraphile/grafast";
import { access, context, lambda, listen } from "postgraphile/grafast";
import { extendSchema, gql } from "postgraphile/utils";
import { mayWatch, type RequestPrincipal } from "./auth.ts";

/** What the trigger `bulkrun_private.notify_action_change` sends on channel `bulkrun:action`. */
export interface ActionChange {
  id: number;
  accountId: number;
  status: string;
  processed: number;
  total: number | null;
  created: number;
  updated: number;
  deleted: number;
  skipped: number;
  failed: number;
  startedAt: string | null;
  finishedAt: string | null;
  /** When the change happened (the database's clock). */
  at: string;
}

const CHANNEL = "bulkrun:action";

declare global {
  namespace Grafast {
    interface Context {
      /** The changes of the bulk actions this request may see; topic: an action id, or "*" for all. */
      bulkrunActionChanges: GrafastSubscriber<Record<string, ActionChange>>;
    }
  }
}

/**
 * The changes a principal may see, from one LISTEN shared by every subscriber: another account's
 * changes, and those of other actions than the one asked for, never reach it.
 */
export function actionChanges(
  listener: GrafastSubscriber<Record<string, string>>,
  principal: RequestPrincipal,
): GrafastSubscriber<Record<string, ActionChange>> {
  return {
    async subscribe(topic) {
      const source = await listener.subscribe(CHANNEL);
      const wanted = topic === "*" ? undefined : Number(topic);
      const keep = (change: ActionChange) => mayWatch(principal, change.accountId) && (wanted === undefined || change.id === wanted);
      // A hand-written iterator, not an async generator: return() must end a pending next() at once.
      const iterator: AsyncIterableIterator<ActionChange> = {
        [Symbol.asyncIterator]: () => iterator,
        async next() {
          for (;;) {
            const item = await source.next();
            if (item.done) return { done: true, value: undefined };
            const change = JSON.parse(item.value) as ActionChange;
            if (keep(change)) return { done: false, value: change };
          }
        },
        return: async () => {
          await source.return?.();
          return { done: true, value: undefined };
        },
      };
      return iterator;
    },
  };
}

function rowsPerSecond(change: ActionChange): number | null {
  if (!change.startedAt || change.processed === 0) return null;
  const seconds = (Date.parse(change.finishedAt ?? change.at) - Date.parse(change.startedAt)) / 1000;
  return change.processed / Math.max(0.001, seconds);
}

/** `Subscription.bulkActionChanged`: live status, counters and rate, scoped to the token's account. */
export const ActionChangesPlugin = extendSchema((build) => {
  const bulkActions = build.input.pgRegistry.pgResources.bulk_actions!;
  return {
    typeDefs: gql`
      """A bulk action as it was when it changed (status, counters, rate), pushed from LISTEN/NOTIFY."""
      type BulkActionChange {
        id: BigInt!
        accountId: BigInt!
        status: String!
        processed: BigInt!
        total: BigInt
        created: BigInt!
        updated: BigInt!
        deleted: BigInt!
        skipped: BigInt!
        failed: BigInt!
        startedAt: Datetime
        finishedAt: Datetime
        """When the change happened."""
        at: Datetime!
        """Share of the rows processed at that time, from 0 to 1; null until the rows are counted."""
        progress: Float
        """Rows processed per second from the start until that time."""
        rowsPerSecond: Float
        """The action as it is now."""
        bulkAction: BulkAction
      }

      extend type Subscription {
        """
        Every change of the bulk actions this token may see (its account's; every account's for an
        admin token), or of the one action \`id\`.
        """
        bulkActionChanged(id: BigInt): BulkActionChange
      }
    `,
    objects: {
      Subscription: {
        plans: {
          bulkActionChanged: {
            subscribePlan(_$root, fieldArgs) {
              const $topic = lambda(fieldArgs.getRaw("id"), (id) => (id == null ? "*" : String(id)), true);
              return listen(context().get("bulkrunActionChanges"), $topic, ($change) => $change);
            },
            plan: ($change) => $change,
          },
        },
      },
      BulkActionChange: {
        plans: {
          progress: ($change: Step<ActionChange>) =>
            lambda($change, (c) => (c.status === "completed" ? 1 : c.total ? Math.min(1, c.processed / c.total) : null), true),
          rowsPerSecond: ($change: Step<ActionChange>) => lambda($change, rowsPerSecond, true),
          bulkAction: ($change: Step<ActionChange>) => bulkActions.get({ id: access($change, "id") }),
        },
      },
    },
  };
});
