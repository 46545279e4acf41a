import { resolveAccount } from "../engine/accounts.ts";
import { createToken, listTokens, revokeToken } from "../engine/tokens.ts";
import { BulkrunError } from "../errors.ts";
import { intFlag, parseFlags } from "./args.ts";
import type { Command } from "./command.ts";
import { withRuntime } from "./runtime.ts";

const USAGE = "bulkrun tokens create --account A [--name N] | bulkrun tokens create --admin [--name N] | bulkrun tokens ls [--account A] | bulkrun tokens revoke <id>";

export const tokens: Command = {
  name: "tokens",
  summary: "API tokens: create one for an account (or an admin token), list them, revoke one",
  usage: "bulkrun tokens create --account A | --admin [--name N] | ls [--account A] | revoke <id>",
  async run(argv, io) {
    const { values, positionals } = parseFlags(
      argv,
      { account: { type: "string" }, admin: { type: "boolean" }, name: { type: "string" } },
      USAGE,
    );
    const [verb, id] = positionals;
    if (verb === "create" && positionals.length === 1) {
      if (Boolean(values.admin) === (values.account !== undefined)) {
        throw new BulkrunError("BULKRUN_ERR_USAGE", `give --account A, or --admin for a token that sees every account (usage: ${USAGE})`);
      }
      return withRuntime(io, async ({ db }) => {
        const account = values.account === undefined ? undefined : await resolveAccount(db.knex, values.account);
        const created = await createToken(db.knex, account?.id ?? null, values.name ?? null);
        io.err(
          `created API token ${created.id} for ${account ? `account ${account.name}` : "every account (admin)"}; ` +
            "it is shown only this once: send it as `Authorization: Bearer <token>`",
        );
        io.out(created.token);
        return 0;
      });
    }
    if ((verb === "ls" || verb === "list") && positionals.length === 1) {
      return withRuntime(io, async ({ db }) => {
        const accountId = values.account === undefined ? undefined : (await resolveAccount(db.knex, values.account)).id;
        io.out(["id", "account", "name", "created", "last used", "revoked"].join("\t"));
        for (const t of await listTokens(db.knex, accountId)) {
          io.out(
            [t.id, t.account ?? "(admin)", t.name ?? "-", t.created_at.toISOString(), t.last_used_at?.toISOString() ?? "-", t.revoked_at?.toISOString() ?? "-"].join("\t"),
          );
        }
        return 0;
      });
    }
    if (verb === "revoke" && id !== undefined && positionals.length === 2) {
      const tokenId = intFlag("revoke <id>", id, 1, Number.MAX_SAFE_INTEGER)!;
      return withRuntime(io, async ({ db }) => {
        await revokeToken(db.knex, tokenId);
        io.out(`revoked API token ${tokenId}; requests with it are refused from now on`);
        return 0;
      });
    }
    throw new BulkrunError("BULKRUN_ERR_USAGE", `usage: ${USAGE}`);
  },
};
