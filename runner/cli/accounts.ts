import { createAccount, listAccounts, resolveAccount } from "../engine/accounts.ts";
import { checkWebhookSecret, checkWebhookUrl, clearAccountWebhook, setAccountWebhook, type WebhookSettingResult } from "../engine/webhook-settings.ts";
import { accountQuotas } from "../engine/rate-limit.ts";
import { BulkrunError } from "../errors.ts";
import { intFlag, parseFlags } from "./args.ts";
import type { Command } from "./command.ts";
import { withRuntime, type Io } from "./runtime.ts";

const USAGE =
  "bulkrun accounts create <name> [--rate-limit ROWS_PER_MIN | --unlimited] [--webhook-url URL] | bulkrun accounts webhook <account> --url URL [--secret S] | bulkrun accounts webhook <account> --clear | bulkrun accounts ls";

export const accounts: Command = {
  name: "accounts",
  summary: "create and list accounts (tenants), set their webhooks",
  usage: "bulkrun accounts create <name> [--rate-limit N | --unlimited] [--webhook-url URL] | webhook <account> --url URL [--secret S] | --clear | ls",
  async run(argv, io) {
    const { values, positionals } = parseFlags(
      argv,
      {
        "rate-limit": { type: "string" },
        unlimited: { type: "boolean" },
        "webhook-url": { type: "string" },
        url: { type: "string" },
        secret: { type: "string" },
        clear: { type: "boolean" },
      },
      USAGE,
    );
    const [verb, name] = positionals;
    if (verb === "create" && name && positionals.length === 2) {
      const rate = intFlag("rate-limit", values["rate-limit"], 1, 1_000_000_000);
      if (rate !== undefined && values.unlimited) throw new BulkrunError("BULKRUN_ERR_USAGE", "give --rate-limit N or --unlimited, not both");
      const webhookUrl = values["webhook-url"] === undefined ? undefined : checkWebhookUrl(values["webhook-url"]);
      return withRuntime(io, async ({ db, config }) => {
        const limit = values.unlimited ? null : (rate ?? config.accounts.defaultRateLimitPerMinute);
        const account = await createAccount(db.knex, name, limit);
        io.out(`created account ${account.name} (id ${account.id}, ${limit === null ? "no rate limit" : `at most ${limit} rows per minute`})`);
        if (webhookUrl) showWebhook(io, account.name, webhookUrl, await setAccountWebhook(db.knex, account.id, webhookUrl));
        return 0;
      });
    }
    if (verb === "webhook" && name && positionals.length === 2) {
      const { url, secret, clear } = values;
      if (clear ? url !== undefined || secret !== undefined : url === undefined) {
        throw new BulkrunError("BULKRUN_ERR_USAGE", `give --url URL (and optionally --secret S), or --clear alone (usage: ${USAGE})`);
      }
      if (url !== undefined) checkWebhookUrl(url);
      if (secret !== undefined) checkWebhookSecret(secret);
      return withRuntime(io, async ({ db }) => {
        const account = await resolveAccount(db.knex, name);
        if (clear) {
          await clearAccountWebhook(db.knex, account.id);
          io.out(`account ${account.name} has no webhook URL now (actions given a URL of their own still use it)`);
        } else {
          showWebhook(io, account.name, url!, await setAccountWebhook(db.knex, account.id, url!, secret));
        }
        return 0;
      });
    }
    if ((verb === "ls" || verb === "list") && positionals.length === 1) {
      return withRuntime(io, async ({ db, config }) => {
        const rows = await listAccounts(db.knex);
        const quotas = await accountQuotas(db.knex, config.rateLimitWindowMs);
        io.out(["id", "name", "rate limit (rows/min)", "rows available now", "full quota at", "created"].join("\t"));
        for (const a of rows) {
          const quota = quotas.get(a.id);
          io.out(
            [a.id, a.name, a.rate_limit_per_minute ?? "unlimited", quota?.rows_available ?? "-", quota?.full_at.toISOString() ?? "-", a.created_at.toISOString()].join("\t"),
          );
        }
        return 0;
      });
    }
    throw new BulkrunError("BULKRUN_ERR_USAGE", `usage: ${USAGE}`);
  },
};

function showWebhook(io: Io, account: string, url: string, { generatedSecret }: WebhookSettingResult): void {
  io.out(`account ${account} posts the summary of every action that ends to ${url}`);
  if (generatedSecret) io.out(`webhook secret (shown only this once; deliveries are signed with it): ${generatedSecret}`);
}
