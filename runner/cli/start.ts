import type { Command } from "./command.ts";
import { parseFlags } from "./args.ts";
import { serve, untilSignal } from "./serve.ts";
import { withRuntime, type Io } from "./runtime.ts";

async function runRoles(argv: string[], io: Io, roles: string[], usage: string): Promise<number> {
  parseFlags(argv, {}, usage);
  return withRuntime(io, async (runtime) => {
    const served = await serve(runtime, roles, io);
    const signal = await untilSignal();
    io.err(`${signal}: finishing running chunks, then stopping`);
    await served.stop();
    return 0;
  });
}

export const start: Command = {
  name: "start",
  summary: "run everything (worker, scheduler, API) in one process; embedded Postgres unless DATABASE_URL is set",
  usage: "bulkrun start",
  run: (argv, io) => runRoles(argv, io, ["worker", "api"], "bulkrun start"),
};

export const worker: Command = {
  name: "worker",
  summary: "run only the worker role (start one per core or machine, all on one Postgres)",
  usage: "bulkrun worker",
  run: (argv, io) => runRoles(argv, io, ["worker"], "bulkrun worker"),
};
