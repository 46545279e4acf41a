import { randomBytes } from "node:crypto";
import type { Knex } from "knex";
import { BulkrunError } from "../errors.ts";

/** Checks a webhook URL (http or https, with a host); returns it unchanged. */
export function checkWebhookUrl(url: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !["http:", "https:"].includes(parsed.protocol) || !parsed.hostname || /\s/.test(url)) {
    throw new BulkrunError("BULKRUN_ERR_USAGE", `the webhook URL must be an http:// or https:// URL such as https://example.com/hooks (got \`${url}\`)`);
  }
  return url;
}

/** Checks a webhook secret given by hand. */
export function checkWebhookSecret(secret: string): string {
  if (secret.length < 16 || secret.length > 256 || /\s/.test(secret)) {
    throw new BulkrunError("BULKRUN_ERR_USAGE", "the webhook secret must be 16 to 256 characters without spaces, e.g. from `openssl rand -hex 32`");
  }
  return secret;
}

/** What a webhook setting changed; `generatedSecret` is shown to the user once and never again. */
export interface WebhookSettingResult {
  generatedSecret?: string;
}

/**
 * Sets the account's webhook URL and signing secret in one transaction: the secret given, or a
 * new random one (returned, since it cannot be read back through the API).
 */
export async function setAccountWebhook(db: Knex, accountId: number, url: string, secret?: string): Promise<WebhookSettingResult> {
  checkWebhookUrl(url);
  const generatedSecret = secret === undefined ? newSecret() : undefined;
  const value = generatedSecret ?? checkWebhookSecret(secret!);
  await db.transaction(async (trx) => {
    await trx.raw("update bulkrun.accounts set webhook_url = ? where id = ?", [url, accountId]);
    await trx.raw(
      `insert into bulkrun_private.webhook_secrets (account_id, secret) values (?, ?)
       on conflict (account_id) do update set secret = excluded.secret, updated_at = now()`,
      [accountId, value],
    );
  });
  return { generatedSecret };
}

/** Stops the account's own webhook; actions that carry a URL of their own still send theirs. */
export async function clearAccountWebhook(db: Knex, accountId: number): Promise<void> {
  await db.raw("update bulkrun.accounts set webhook_url = null where id = ?", [accountId]);
}

/**
 * Gives the account a secret if it has none yet, so an action's own webhook URL can be signed;
 * returns the new secret (to show once), or nothing when the account already had one.
 */
export async function ensureWebhookSecret(db: Knex, accountId: number): Promise<WebhookSettingResult> {
  const { rows } = await db.raw<{ rows: { secret: string }[] }>(
    `insert into bulkrun_private.webhook_secrets (account_id, secret) values (?, ?)
     on conflict (account_id) do nothing returning secret`,
    [accountId, newSecret()],
  );
  return { generatedSecret: rows[0]?.secret };
}

function newSecret(): string {
  return randomBytes(32).toString("hex");
}
