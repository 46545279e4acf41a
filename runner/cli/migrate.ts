import { migrate } from "../db/migrate.ts";
import { parseFlags } from "./args.ts";
import type { Command } from "./command.ts";
import { withRuntime } from "./runtime.ts";

export const migrateCommand: Command = {
  name: "migrate",
  summary: "apply the SQL migrations (and Graphile Worker's) to the database",
  usage: "bulkrun migrate",
  async run(argv, io) {
    parseFlags(argv, {}, this.usage);
    return withRuntime(
      io,
      async (runtime) => {
        const { applied } = await migrate(runtime.db.pool, [...runtime.config.plugins.values()]);
        io.out(applied.length === 0 ? "the database is up to date" : `applied ${applied.join(", ")}`);
        return 0;
      },
      { migrate: false },
    );
  },
};
