import type { ResolvedConfig } from "../config.ts";
import type { Database } from "../db/database.ts";
import type { EngineEvents } from "./events.ts";

/** What every engine step is given: the database, the configuration and the event bus. */
export interface EngineContext {
  db: Database;
  config: ResolvedConfig;
  events: EngineEvents;
  log: (line: string) => void;
}
