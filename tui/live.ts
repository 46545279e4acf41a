import { createClient } from "graphql-ws";
import type { ApiTarget } from "./client.ts";
import type { ActionSummary } from "./model.ts";
import { counters, num, type ActionCounters } from "./values.ts";

/** A bulk action's counters at the moment it changed, as the subscription pushes them. */
export type ActionChange = Pick<ActionSummary, "id" | "status"> & ActionCounters;

const SUBSCRIPTION = `subscription { bulkActionChanged {
  id status total processed created updated deleted skipped failed progress rowsPerSecond
} }`;

/** Wait before subscribing again after the server ended or refused the subscription, in ms. */
const RESUBSCRIBE_MS = 2000;

/**
 * Pushes every change of the actions the token may see, over graphql-ws. A lost connection is
 * subscribed again every few seconds for as long as it runs; the periodic refresh stays the source of truth (and of errors),
 * this only makes changes show sooner. Returns the function that stops it.
 */
export function watchChanges(target: ApiTarget, onChange: (change: ActionChange) => void): () => Promise<void> {
  const client = createClient({
    url: `${target.url.replace(/\/+$/, "").replace(/^http/, "ws")}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: target.token ? { authorization: `Bearer ${target.token}` } : {},
    // Retried here instead (see `again`): graphql-ws's own retries leave rejections unhandled
    // when the client is disposed while the API is away.
    retryAttempts: 0,
  });
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const again = () => {
    if (stopped) return;
    timer = setTimeout(subscribe, RESUBSCRIBE_MS);
    timer.unref();
  };
  const subscribe = () => {
    client.subscribe<{ bulkActionChanged: Record<string, unknown> | null }>(
      { query: SUBSCRIPTION },
      {
        next: ({ data }) => {
          const raw = data?.bulkActionChanged;
          if (raw) onChange(parse(raw));
        },
        error: again,
        complete: again,
      },
    );
  };
  subscribe();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    // Not unsubscribe first: one doing so while the socket still connects leaves a rejection
    // nobody handles inside graphql-ws; disposing ends the subscription and the socket at once.
    await client.dispose();
  };
}

function parse(raw: Record<string, unknown>): ActionChange {
  return {
    id: num(raw.id),
    status: String(raw.status),
    ...counters(raw),
  };
}
