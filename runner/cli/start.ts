import type { Command } from "./command.ts";
import { parseFlags } from "./args.ts";
import { serve, untilSignal } from "./serve.ts";
import { withRuntime, type Io } from "./runtime.ts";
import { heldLines, watchUntilDone } from "./start-dashboard.ts";

async function runRoles(argv: string[], io: Io, roles: string[], usage: string, dashboard = false): Promise<number> {
  const { values } = parseFlags(argv, dashboard ? { "no-dashboard": { type: "boolean" } } : {}, usage);
  const watch = dashboard && !values["no-dashboard"];
  const interactive = watch && Boolean(process.stdout.isTTY);
  const logs = interactive ? heldLines(io) : undefined;
  return withRuntime(logs?.io ?? io, async (runtime) => {
    const served = await serve(runtime, roles, logs?.io ?? io);
    const signalled = untilSignal();
    const signal = watch ? await watchUntilDone(runtime, served.apiUrl!, io, interactive, signalled) : await signalled;
    logs?.release();
    io.err(`${signal}: finishing running chunks, then stopping`);
    await served.stop();
    return 0;
  });
}

export const start: Command = {
  name: "start",
  summary:
    "run everything (worker, scheduler, API) in one process; embedded Postgres unless DATABASE_URL is set; " +
    "shows the dashboard on a terminal (q stops), a progress line per interval otherwise",
  usage: "bulkrun start [--no-dashboard]",
  run: (argv, io) => runRoles(argv, io, ["worker", "api"], "bulkrun start [--no-dashboard]", true),
};

export const worker: Command = {
  name: "worker",
  summary: "run only the worker role (start one per core or machine, all on one Postgres)",
  usage: "bulkrun worker",
  run: (argv, io) => runRoles(argv, io, ["worker"], "bulkrun worker"),
};
