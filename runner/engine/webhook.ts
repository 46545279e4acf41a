import { createHmac } from "node:crypto";
import type { JobHelpers } from "graphile-worker";
import { request } from "undici";
import type { EngineContext } from "./context.ts";

/** The job payload of one delivery, as the trigger on `bulkrun.bulk_actions` enqueues it. */
export interface WebhookPayload {
  /** Sent as `X-Bulkrun-Delivery`; the same on every attempt. */
  deliveryId: string;
  accountId: number;
  /** `action.completed`, `action.failed` or `action.cancelled`. */
  event: string;
  url: string;
  /** The Graphile Worker queue that keeps one account's deliveries one at a time. */
  queue: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** The summary, taken when the action ended: every attempt sends the same bytes. */
  body: unknown;
}

/** The `X-Bulkrun-Signature` of a body: HMAC-SHA256 of its exact bytes, keyed with the account's secret. */
function signWebhook(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/**
 * The webhook job: one attempt to POST an action's summary. A 2xx answer is a delivery; any
 * other answer, a timeout or a connection error schedules the next attempt after a doubling
 * backoff, as a fresh job (this one succeeds), until `webhooks.attempts` is spent and the
 * failure is recorded. Nothing here touches the action: it ended before the job was enqueued.
 */
export async function deliverWebhook(ctx: EngineContext, payload: WebhookPayload, helpers: Pick<JobHelpers, "addJob" | "job">): Promise<void> {
  const { timeoutMs, backoffMs, attempts } = ctx.config.webhooks;
  const { attempt } = payload;
  const secret = await accountSecret(ctx, payload.accountId);
  const error = secret === undefined
    ? `account ${payload.accountId} has no webhook secret; set one with \`bulkrun accounts webhook <account> --url URL\``
    : await post(payload, secret, timeoutMs);
  if (error === undefined) {
    await record(ctx, payload.deliveryId, "delivered", attempt, null);
  } else if (secret !== undefined && attempt < attempts) {
    await helpers.addJob("bulkrun.webhook", { ...payload, attempt: attempt + 1 }, {
      queueName: payload.queue,
      jobKey: helpers.job.key ?? undefined,
      runAt: new Date(Date.now() + backoffMs * 2 ** (attempt - 1)),
      maxAttempts: helpers.job.max_attempts,
    });
    await record(ctx, payload.deliveryId, "pending", attempt, error);
  } else {
    await record(ctx, payload.deliveryId, "failed", attempt, error);
    ctx.log(`webhook ${payload.event} ${payload.deliveryId} to ${payload.url} failed after ${attempt} attempt(s): ${error}`);
  }
}

/** POSTs the body; returns why it was not accepted, or undefined for a 2xx answer. */
async function post(payload: WebhookPayload, secret: string, timeoutMs: number): Promise<string | undefined> {
  const body = JSON.stringify(payload.body);
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const response = await request(payload.url, {
      method: "POST",
      body,
      signal,
      headers: {
        "content-type": "application/json",
        "user-agent": "bulkrun-webhook",
        "x-bulkrun-event": payload.event,
        "x-bulkrun-delivery": payload.deliveryId,
        "x-bulkrun-timestamp": String(Math.floor(Date.now() / 1000)),
        "x-bulkrun-attempt": String(payload.attempt),
        "x-bulkrun-signature": signWebhook(secret, body),
      },
    });
    // The answer's body means nothing to us; reading a little of it lets the connection be reused.
    await response.body.dump({ limit: 64 * 1024, signal }).catch(() => {});
    return response.statusCode >= 200 && response.statusCode < 300 ? undefined : `HTTP ${response.statusCode}`;
  } catch (cause) {
    if (signal.aborted) return `no answer within ${timeoutMs} ms`;
    const { code, message } = cause as { code?: string; message: string };
    return code ? `${message} (${code})` : message;
  }
}

async function accountSecret(ctx: EngineContext, accountId: number): Promise<string | undefined> {
  const { rows } = await ctx.db.pool.query<{ secret: string }>(
    "select secret from bulkrun_private.webhook_secrets where account_id = $1",
    [accountId],
  );
  return rows[0]?.secret;
}

async function record(ctx: EngineContext, deliveryId: string, status: string, attempts: number, error: string | null): Promise<void> {
  await ctx.db.pool.query(
    `update bulkrun_private.webhook_deliveries
        set status = $2, attempts = $3, last_error = $4, delivered_at = case when $2 = 'delivered' then now() end
      where id = $1`,
    [deliveryId, status, attempts, error],
  );
}
