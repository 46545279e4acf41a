import { EventEmitter } from "node:events";

/**
 * Everything the engine announces in-process. The dashboard, the API and metrics read these or
 * the tables, nothing else.
 *
 * | event            | when                                                   |
 * | ---------------- | ------------------------------------------------------ |
 * | `action:prepared`| a source is staged and cut into chunks                 |
 * | `chunk:commit`   | a chunk's writes, ledger and counters committed        |
 * | `chunk:failed`   | a chunk failed on its last attempt; its rows are failed|
 * | `action:finished`| an action reached completed, failed or cancelled       |
 */
export interface EngineEventMap {
  "action:prepared": [{ actionId: number; rows: number; invalid: number; chunks: number }];
  "chunk:commit": [{ actionId: number; chunkId: number; rows: number; durationMs: number; pluginMs: number }];
  "chunk:failed": [{ actionId: number; chunkId: number; error: string }];
  "action:finished": [{ actionId: number; status: string }];
}

/** The typed event bus of one runner process. */
export class EngineEvents extends EventEmitter<EngineEventMap> {}
