import { createAccount, listAccounts } from "../engine/accounts.ts";
import { BulkrunError } from "../errors.ts";
import { intFlag, parseFlags } from "./args.ts";
import type { Command } from "./command.ts";
import { withRuntime } from "./runtime.ts";

const USAGE = "bulkrun accounts create <name> [--rate-limit ROWS_PER_MIN] | bulkrun accounts ls";

export const accounts: Command = {
  name: "accounts",
  summary: "create and list accounts (tenants)",
  usage: "bulkrun accounts create <name> [--rate-limit N] | ls",
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, { "rate-limit": { type: "string" } }, USAGE);
    const [verb, name] = positionals;
    if (verb === "create" && name && positionals.length === 2) {
      const rate = intFlag("rate-limit", values["rate-limit"], 1, 1_000_000_000) ?? null;
      return withRuntime(io, async ({ db }) => {
        const account = await createAccount(db.knex, name, rate);
        io.out(`created account ${account.name} (id ${account.id})`);
        return 0;
      });
    }
    if ((verb === "ls" || verb === "list") && positionals.length === 1) {
      return withRuntime(io, async ({ db }) => {
        const rows = await listAccounts(db.knex);
        io.out(["id", "name", "rate limit (rows/min)", "created"].join("\t"));
        for (const a of rows) {
          io.out([a.id, a.name, a.rate_limit_per_minute ?? "unlimited", a.created_at.toISOString()].join("\t"));
        }
        return 0;
      });
    }
    throw new BulkrunError("BULKRUN_ERR_USAGE", `usage: ${USAGE}`);
  },
};
