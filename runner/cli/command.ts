import type { Io } from "./runtime.ts";

/** One `bulkrun` subcommand; each lives in its own file. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Returns the process exit code. */
  run(argv: string[], io: Io): Promise<number>;
}
