import { useCallback, useEffect, useRef, useState } from "react";
import { isBulkrunError, type BulkrunError } from "../runner/errors.ts";

/** What a polled value looks like to a component. */
export interface Poll<T> {
  /** The latest answer; kept while the API is away, so the screen keeps what it knew. */
  data: T | undefined;
  /** Why the last attempt failed; undefined once one succeeds again. */
  error: BulkrunError | Error | undefined;
  /** The API did not answer the last attempt; polling goes on until it does. */
  reconnecting: boolean;
  /** Asks again now (or right after the request in flight). */
  refresh(): void;
  /** Changes the data in place until the next answer replaces it (live changes). */
  update(change: (data: T) => T): void;
}

/** Wait between attempts while the API does not answer, in ms: longer each time, up to the last. */
const RECONNECT_MS = [500, 1000, 2000, 5000];

/**
 * Calls `fetch` every `intervalMs` (one request at a time, never overlapping) and whenever a key
 * in `deps` changes. A refused token is not retried: it ends polling and is handed to `onFatal`.
 */
export function usePoll<T>(fetch: () => Promise<T>, intervalMs: number, deps: readonly unknown[], onFatal: (error: Error) => void): Poll<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<Error>();
  const [reconnecting, setReconnecting] = useState(false);
  const wake = useRef<() => void>(() => {});
  const latest = useRef({ fetch, onFatal });
  latest.current = { fetch, onFatal };

  useEffect(() => {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    let inFlight = false;
    let again = false;
    let failures = 0;
    const schedule = (ms: number) => {
      clearTimeout(timer);
      timer = setTimeout(run, ms);
    };
    const run = async () => {
      if (stopped) return;
      if (inFlight) {
        again = true;
        return;
      }
      inFlight = true;
      let wait = intervalMs;
      try {
        const value = await latest.current.fetch();
        if (stopped) return;
        failures = 0;
        setData(value);
        setError(undefined);
        setReconnecting(false);
      } catch (caught) {
        if (stopped) return;
        const failure = caught as Error;
        if (isBulkrunError(failure, "BULKRUN_ERR_UNAUTHORIZED")) {
          stopped = true;
          latest.current.onFatal(failure);
          return;
        }
        const away = isBulkrunError(failure, "BULKRUN_ERR_API_UNREACHABLE");
        setError(failure);
        setReconnecting(away);
        if (away) wait = Math.min(intervalMs, RECONNECT_MS[Math.min(failures, RECONNECT_MS.length - 1)]!);
        failures++;
      } finally {
        inFlight = false;
      }
      if (stopped) return;
      if (again) {
        again = false;
        schedule(0);
      } else {
        schedule(wait);
      }
    };
    wake.current = () => schedule(0);
    schedule(0);
    return () => {
      stopped = true;
      clearTimeout(timer);
      wake.current = () => {};
    };
    // The caller names what the fetch depends on, as with useEffect.
  }, [intervalMs, ...deps]);

  const refresh = useCallback(() => wake.current(), []);
  const update = useCallback((change: (value: T) => T) => setData((value) => (value === undefined ? value : change(value))), []);
  return { data, error, reconnecting, refresh, update };
}
