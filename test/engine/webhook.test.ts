import assert from "node:assert/strict";
import { createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { after, before, describe, test } from "node:test";
import { setAccountWebhook } from "../../runner/engine/webhook-settings.ts";
import { submitAction } from "../../runner/engine/submit.ts";
import { finished, newAccount, submitCsv } from "../helpers/actions.ts";
import { lines, runCli } from "../helpers/cli.ts";
import { httpServer } from "../helpers/http.ts";
import { testRuntime, type TestRuntime } from "../helpers/runtime.ts";

const SECRET = "test-secret-0123456789abcdef";
const CSV = "name,email\nAnn,ann@example.com\nBob,bob@example.com\n";

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  receivedAt: number;
  answeredAt?: number;
}

let ctx: TestRuntime;
let web: Awaited<ReturnType<typeof httpServer>>;
const received: Received[] = [];

before(async () => {
  ctx = await testRuntime({ webhooks: { timeoutMs: 500, backoffMs: 50, attempts: 4 } });
  await ctx.startWorker();
  web = await httpServer((req, res) => {
    let body = "";
    req.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
    req.on("end", () => {
      const hit: Received = { path: req.url!, headers: req.headers, body, receivedAt: Date.now() };
      received.push(hit);
      const answer = (status: number) => {
        hit.answeredAt = Date.now();
        res.writeHead(status).end();
      };
      const attempt = hitsOf(hit.path).length;
      if (hit.path.startsWith("/flaky")) {
        if (attempt === 1) setTimeout(() => answer(500), 250);
        else if (attempt >= 3) answer(204);
        // The second attempt gets no answer at all: the sender must give up on its own.
      } else if (hit.path.startsWith("/down")) {
        answer(500);
      } else if (hit.path === "/missing.csv") {
        answer(404);
      } else {
        answer(200);
      }
    });
  });
});
after(async () => {
  await web.close();
  await ctx.close();
});

function hitsOf(path: string): Received[] {
  return received.filter((r) => r.path === path);
}

interface Delivery {
  id: string;
  event: string;
  url: string;
  status: string;
  attempts: number;
  last_error: string | null;
  delivered_at: Date | null;
}

async function deliveries(actionId: number): Promise<Delivery[]> {
  const { rows } = await ctx.db.knex.raw<{ rows: Delivery[] }>(
    "select id, event, url, status, attempts, last_error, delivered_at from bulkrun_private.webhook_deliveries where action_id = ? order by created_at",
    [actionId],
  );
  return rows;
}

/** The delivery of the action's end, once it is delivered or has failed for good. */
async function settled(actionId: number, timeoutMs = 20_000): Promise<Delivery> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [delivery] = await deliveries(actionId);
    if (delivery && delivery.status !== "pending") return delivery;
    if (Date.now() > deadline) throw new Error(`the webhook of action ${actionId} did not settle: ${JSON.stringify(delivery)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** What a receiver does: recompute the HMAC of the raw body and compare in constant time. */
function verifies(secret: string, hit: Received): boolean {
  const expected = Buffer.from(`sha256=${createHmac("sha256", secret).update(hit.body).digest("hex")}`);
  const given = Buffer.from(String(hit.headers["x-bulkrun-signature"]));
  return given.length === expected.length && timingSafeEqual(given, expected);
}

async function webhookJobs(db: TestRuntime["db"]["knex"], key: string): Promise<{ queue_name: string }[]> {
  const { rows } = await db.raw<{ rows: { queue_name: string }[] }>(
    "select queue_name from graphile_worker.jobs where task_identifier = 'bulkrun.webhook' and key = ?",
    [key],
  );
  return rows;
}

describe("webhooks of ended actions", () => {
  test("a completed action is delivered once, signed, with one delivery id across retries, without holding the action up", async () => {
    const account = await newAccount(ctx);
    await setAccountWebhook(ctx.db.knex, account.id, `${web.url}/flaky`, SECRET);
    const action = await submitCsv(ctx, { accountId: account.id }, CSV);
    const done = await finished(ctx, action.id);
    const endSeenAt = Date.now();
    assert.equal(done.status, "completed");

    const delivery = await settled(action.id);
    assert.equal(delivery.status, "delivered");
    assert.equal(delivery.attempts, 3);
    assert.equal(delivery.last_error, null);
    assert.ok(delivery.delivered_at);

    const hits = hitsOf("/flaky");
    assert.equal(hits.length, 3, "a 500, a request left unanswered past the timeout, then a 204");
    assert.deepEqual(hits.map((h) => h.headers["x-bulkrun-delivery"]), [delivery.id, delivery.id, delivery.id]);
    assert.deepEqual(hits.map((h) => h.headers["x-bulkrun-attempt"]), ["1", "2", "3"]);
    assert.equal(new Set(hits.map((h) => h.body)).size, 1, "every attempt sends the same bytes");
    assert.ok(hits[2]!.receivedAt - hits[1]!.receivedAt >= 500, "the unanswered attempt was given up after the 500 ms timeout");
    for (const hit of hits) {
      assert.ok(verifies(SECRET, hit), "the signature verifies with the account's secret");
      assert.equal(hit.headers["x-bulkrun-event"], "action.completed");
      assert.equal(hit.headers["content-type"], "application/json");
      assert.match(String(hit.headers["x-bulkrun-timestamp"]), /^\d{10}$/);
    }
    assert.ok(!verifies("another-secret-0123456789", hits[0]!));

    assert.deepEqual(JSON.parse(hits[2]!.body), {
      event: "action.completed",
      delivery_id: delivery.id,
      action: {
        id: action.id,
        account_id: account.id,
        account: account.name,
        type: "users.import",
        status: "completed",
        dry_run: false,
        total: 2,
        processed: 2,
        created: 2,
        updated: 0,
        deleted: 0,
        skipped: 0,
        failed: 0,
        error_code: null,
        error: null,
        created_at: done.created_at.toISOString(),
        started_at: done.started_at!.toISOString(),
        finished_at: done.finished_at!.toISOString(),
      },
    });
    assert.ok(done.finished_at!.getTime() <= hits[0]!.receivedAt, "the action had ended before the first attempt");
    assert.ok(endSeenAt < hits[0]!.answeredAt!, "the action was seen completed before the first attempt returned");
  });

  test("an action's own URL wins over its account's", async () => {
    const account = await newAccount(ctx);
    await setAccountWebhook(ctx.db.knex, account.id, `${web.url}/account-url`, SECRET);
    const action = await submitCsv(ctx, { accountId: account.id, webhookUrl: `${web.url}/action-url` }, CSV);
    await finished(ctx, action.id);
    const delivery = await settled(action.id);
    assert.deepEqual([delivery.status, delivery.url], ["delivered", `${web.url}/action-url`]);
    assert.equal(hitsOf("/action-url").length, 1);
    assert.equal(hitsOf("/account-url").length, 0);
    assert.ok(verifies(SECRET, hitsOf("/action-url")[0]!));
  });

  test("a failed action is delivered with its error", async () => {
    const account = await newAccount(ctx);
    await setAccountWebhook(ctx.db.knex, account.id, `${web.url}/failed`, SECRET);
    const action = await submitAction(ctx, { accountId: account.id, type: "users.import" }, { kind: "url", url: `${web.url}/missing.csv` });
    const done = await finished(ctx, action.id);
    assert.equal(done.status, "failed");
    assert.equal((await settled(action.id)).status, "delivered");
    const [hit] = hitsOf("/failed");
    assert.equal(hit!.headers["x-bulkrun-event"], "action.failed");
    const body = JSON.parse(hit!.body) as { event: string; action: Record<string, unknown> };
    assert.equal(body.event, "action.failed");
    assert.deepEqual(
      [body.action.status, body.action.error_code, body.action.error],
      ["failed", "BULKRUN_ERR_URL_FETCH", `GET ${web.url}/missing.csv answered HTTP 404`],
    );
  });

  test("cancelling enqueues the webhook in the cancelling transaction; no URL, no job", async () => {
    const withUrl = await newAccount(ctx);
    await setAccountWebhook(ctx.db.knex, withUrl.id, `${web.url}/cancelled`, SECRET);
    const withoutUrl = await newAccount(ctx);
    const later = { rows: [{ email: "x@example.com" }] };
    const insert = "insert into bulkrun.bulk_actions (account_id, type, source, run_at) values (?, 'users.import', ?, now() + interval '1 day') returning id";
    const ids: number[] = [];
    for (const account of [withUrl, withoutUrl]) {
      const { rows } = await ctx.db.knex.raw<{ rows: { id: number }[] }>(insert, [account.id, JSON.stringify(later)]);
      ids.push(rows[0]!.id);
    }
    const [cancelled, silent] = ids as [number, number];
    await ctx.db.knex.transaction(async (trx) => {
      for (const id of ids) await trx.raw("select bulkrun_private.transition_action(?, 'cancelled')", [id]);
      assert.deepEqual(await webhookJobs(trx, `bulkrun.webhook:${cancelled}:cancelled`), [{ queue_name: `bulkrun.webhook:${withUrl.id}` }]);
      assert.deepEqual(await webhookJobs(trx, `bulkrun.webhook:${silent}:cancelled`), []);
    });
    assert.equal((await settled(cancelled)).status, "delivered");
    const [hit] = hitsOf("/cancelled");
    assert.equal(hit!.headers["x-bulkrun-event"], "action.cancelled");
    assert.equal((JSON.parse(hit!.body) as { action: { status: string } }).action.status, "cancelled");
    assert.deepEqual(await deliveries(silent), []);
  });

  test("a receiver that never accepts gets every attempt, doubling the wait, then the failure is recorded", async () => {
    const account = await newAccount(ctx);
    await setAccountWebhook(ctx.db.knex, account.id, `${web.url}/down`, SECRET);
    const action = await submitCsv(ctx, { accountId: account.id }, CSV);
    assert.equal((await finished(ctx, action.id)).status, "completed");
    const delivery = await settled(action.id);
    assert.deepEqual([delivery.status, delivery.attempts, delivery.last_error, delivery.delivered_at], ["failed", 4, "HTTP 500", null]);
    const hits = hitsOf("/down");
    assert.equal(hits.length, 4);
    const gaps = hits.slice(1).map((h, i) => h.receivedAt - hits[i]!.receivedAt);
    gaps.forEach((gap, i) => assert.ok(gap >= 50 * 2 ** i - 5, `wait before attempt ${i + 2}: ${gap} ms, expected at least ${50 * 2 ** i}`));
    assert.equal((await finished(ctx, action.id)).status, "completed");
  });

  test("an account without a secret gets no unsigned request; the reason is recorded", async () => {
    const account = await newAccount(ctx);
    const { rows } = await ctx.db.knex.raw<{ rows: { id: number }[] }>(
      "insert into bulkrun.bulk_actions (account_id, type, source, webhook_url) values (?, 'users.import', ?, ?) returning id",
      [account.id, JSON.stringify({ rows: [] }), `${web.url}/unsigned`],
    );
    const id = rows[0]!.id;
    assert.equal((await finished(ctx, id)).status, "completed");
    const delivery = await settled(id);
    assert.equal(delivery.status, "failed");
    assert.match(delivery.last_error!, /has no webhook secret; set one with `bulkrun accounts webhook/);
    assert.equal(hitsOf("/unsigned").length, 0);
  });

  test("SQL refuses a webhook URL that is not http(s)", async () => {
    const account = await newAccount(ctx);
    await assert.rejects(
      ctx.db.knex.raw("update bulkrun.accounts set webhook_url = 'ftp://example.com' where id = ?", [account.id]),
      /webhook_url_check/,
    );
  });
});

describe("webhook settings from the command line", () => {
  const bulkrun = (...args: string[]) => runCli(args, { databaseUrl: ctx.url });

  test("accounts webhook sets the URL and prints a generated secret that signs the deliveries", async () => {
    const account = await newAccount(ctx);
    const set = await bulkrun("accounts", "webhook", account.name, "--url", `${web.url}/cli`);
    assert.equal(set.code, 0, set.stderr);
    const secret = /deliveries are signed with it\): ([0-9a-f]{64})$/m.exec(set.stdout)?.[1];
    assert.ok(secret, `a secret on stdout:\n${set.stdout}`);
    const action = await submitCsv(ctx, { accountId: account.id }, CSV);
    await finished(ctx, action.id);
    assert.equal((await settled(action.id)).status, "delivered");
    assert.ok(verifies(secret, hitsOf("/cli")[0]!));

    const kept = await bulkrun("accounts", "webhook", account.name, "--url", `${web.url}/cli2`, "--secret", SECRET);
    assert.equal(kept.code, 0, kept.stderr);
    assert.doesNotMatch(kept.stdout, /secret/, "a secret given by hand is not echoed");

    const cleared = await bulkrun("accounts", "webhook", account.name, "--clear");
    assert.equal(cleared.code, 0, cleared.stderr);
    const { rows } = await ctx.db.knex.raw<{ rows: { webhook_url: string | null }[] }>("select webhook_url from bulkrun.accounts where id = ?", [account.id]);
    assert.equal(rows[0]!.webhook_url, null);
  });

  test("a URL that is not http(s) is a usage error, and nothing is created", async () => {
    const created = await bulkrun("accounts", "create", "hooked", "--webhook-url", "ftp://example.com/x");
    assert.equal(created.code, 2);
    assert.deepEqual(lines(created.stderr), [
      "bulkrun: the webhook URL must be an http:// or https:// URL such as https://example.com/hooks (got `ftp://example.com/x`) [BULKRUN_ERR_USAGE]",
    ]);
    const { rows } = await ctx.db.knex.raw<{ rows: unknown[] }>("select 1 from bulkrun.accounts where name = 'hooked'");
    assert.equal(rows.length, 0);
    const imported = await bulkrun("import", "https://example.com/c.csv", "--account", "hooked", "--webhook-url", "not a url");
    assert.equal(imported.code, 2);
    assert.match(imported.stderr, /the webhook URL must be an http:\/\/ or https:\/\/ URL .*\[BULKRUN_ERR_USAGE\]/);
    const both = await bulkrun("accounts", "webhook", "hooked", "--url", `${web.url}/x`, "--clear");
    assert.equal(both.code, 2);
    assert.match(both.stderr, /give --url URL \(and optionally --secret S\), or --clear alone/);
  });
});
