import { closest } from "../engine/did-you-mean.ts";
import { BulkrunError, isBulkrunError } from "../errors.ts";
import { accounts } from "./accounts.ts";
import { api } from "./api.ts";
import type { Command } from "./command.ts";
import { apply, cancel, pause, resume, retry } from "./control.ts";
import { demo } from "./demo.ts";
import { anonymize } from "./anonymize.ts";
import { deleteCommand } from "./delete.ts";
import { importCommand } from "./import.ts";
import { update } from "./update.ts";
import { logs } from "./logs.ts";
import { migrateCommand } from "./migrate.ts";
import { prune } from "./prune.ts";
import { reschedule } from "./reschedule.ts";
import { processIo, type Io } from "./runtime.ts";
import { schedule } from "./schedule.ts";
import { seed } from "./seed.ts";
import { start, worker } from "./start.ts";
import { status } from "./status.ts";
import { tokens } from "./tokens.ts";
import { tui } from "./tui.ts";

const COMMANDS: Command[] = [
  start,
  worker,
  api,
  migrateCommand,
  accounts,
  tokens,
  importCommand,
  update,
  deleteCommand,
  anonymize,
  status,
  logs,
  prune,
  tui,
  pause,
  resume,
  cancel,
  retry,
  apply,
  reschedule,
  schedule,
  seed,
  demo,
];

function help(io: Io): void {
  io.out("usage: bulkrun <command> [options]   (add --verbose to any command for stack traces)\n");
  for (const command of COMMANDS) io.out(`  ${command.usage}\n      ${command.summary}`);
}

/** Runs one command line; returns the exit code. Errors are one line on stderr. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const verbose = argv.includes("--verbose");
  const args = argv.filter((a) => a !== "--verbose");
  const [name, ...rest] = args;
  if (!name || name === "help" || name === "--help" || name === "-h") {
    help(io);
    return name ? 0 : 2;
  }
  try {
    const command = COMMANDS.find((c) => c.name === name);
    if (!command) {
      const guess = closest(name, COMMANDS.map((c) => c.name));
      throw new BulkrunError("BULKRUN_ERR_USAGE", `unknown command \`${name}\`${guess ? `; did you mean \`${guess}\`?` : ""} (see \`bulkrun help\`)`);
    }
    return await command.run(rest, io);
  } catch (error) {
    if (verbose) io.err(String((error as Error).stack ?? error));
    if (isBulkrunError(error)) {
      io.err(`bulkrun: ${error.message} [${error.code}]`);
      return error.code === "BULKRUN_ERR_USAGE" ? 2 : 1;
    }
    io.err(`bulkrun: unexpected error: ${(error as Error).message ?? String(error)} (run again with --verbose for details)`);
    return 1;
  }
}
