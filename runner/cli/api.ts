import { writeFile } from "node:fs/promises";
import { loadApi } from "../api/load.ts";
import { intFlag, parseFlags } from "./args.ts";
import type { Command } from "./command.ts";
import { withRuntime } from "./runtime.ts";
import { untilSignal } from "./serve.ts";

const USAGE = "bulkrun api [--port N] [--host ADDRESS] | bulkrun api --print-schema FILE";

export const api: Command = {
  name: "api",
  summary: "serve only the GraphQL API (/graphql, Ruru at /graphiql, /healthz, /metrics, POST /upload)",
  usage: USAGE,
  async run(argv, io) {
    const { values } = parseFlags(argv, { port: { type: "string" }, host: { type: "string" }, "print-schema": { type: "string" } }, USAGE);
    const port = intFlag("port", values.port, 0, 65_535);
    return withRuntime(io, async (runtime) => {
      const { schemaSdl, startApi } = await loadApi();
      const out = values["print-schema"];
      if (out !== undefined) {
        await writeFile(out, await schemaSdl(runtime));
        io.err(`wrote the API schema to ${out}`);
        return 0;
      }
      const server = await startApi(runtime, { port, host: values.host });
      io.err(`bulkrun api listening on ${server.url}/graphql (Ruru: ${server.url}/graphiql)`);
      const signal = await untilSignal();
      io.err(`${signal}: stopping the API`);
      await server.stop();
      return 0;
    });
  },
};
