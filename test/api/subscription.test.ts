import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, test } from "node:test";
import { createClient, type Client } from "graphql-ws";
import { finished, submitCsv } from "../helpers/actions.ts";
import { apiFixture, type ApiFixture } from "./client.ts";

let f: ApiFixture;
const clients: Client[] = [];

before(async () => {
  f = await apiFixture();
  await f.ctx.startWorker();
});
after(async () => {
  for (const client of clients) await client.dispose();
  await f.close();
});

interface Change {
  id: string;
  accountId: string;
  status: string;
  processed: string;
  total: string | null;
  created: string;
  progress: number | null;
  rowsPerSecond: number | null;
  bulkAction: { status: string } | null;
}

const FIELDS = "id accountId status processed total created progress rowsPerSecond bulkAction { status }";

function subscribe(token: string | undefined, args = ""): Change[] {
  const client = createClient({
    url: `${f.api.url.replace(/^http/, "ws")}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    retryAttempts: 0,
  });
  clients.push(client);
  const changes: Change[] = [];
  client.subscribe<{ bulkActionChanged: Change }>(
    { query: `subscription { bulkActionChanged${args} { ${FIELDS} } }` },
    { next: (value) => changes.push(value.data!.bulkActionChanged), error: (error) => assert.fail(JSON.stringify(error)), complete: () => {} },
  );
  return changes;
}

async function until(check: () => boolean, poke: () => Promise<unknown>, what: string): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++) {
    await poke();
    await sleep(100);
  }
  assert.ok(check(), `timed out waiting for ${what}`);
}

test("a subscription pushes its own account's changes with the values of the moment, and never another account's", async () => {
  const seedA = (await submitCsv(f.ctx, { accountId: f.a.id }, "email\nseed-a@example.com\n")).id;
  const seedB = (await submitCsv(f.ctx, { accountId: f.b.id }, "email\nseed-b@example.com\n")).id;
  await finished(f.ctx, seedA);
  await finished(f.ctx, seedB);
  const aWatchingB = subscribe(f.a.token, `(id: "${seedB}")`);
  const anonymous = subscribe(undefined);
  const a = subscribe(f.a.token);
  const b = subscribe(f.b.token);
  const touch = (id: number) => f.ctx.db.knex.raw("update bulkrun.bulk_actions set priority = priority where id = ?", [id]);
  await until(() => a.length > 0, () => touch(seedA), "A's subscription");
  await until(() => b.length > 0, () => touch(seedB), "B's subscription");
  a.length = 0;

  const csv = `name,email\n${Array.from({ length: 30 }, (_, i) => `U${i},u${i}@example.com`).join("\n")}\n`;
  const id = (await submitCsv(f.ctx, { accountId: f.a.id, chunkSize: 10 }, csv)).id;
  await finished(f.ctx, id);
  await until(() => a.some((c) => c.status === "completed"), async () => {}, "the completed event");

  const mine = a.filter((c) => c.id === String(id));
  assert.deepEqual(mine.map((c) => c.accountId), mine.map(() => String(f.a.id)));
  const statuses = [...new Set(mine.map((c) => c.status))];
  assert.deepEqual(statuses, ["queued", "preparing", "running", "completed"]);
  const processed = mine.map((c) => Number(c.processed));
  assert.deepEqual(processed, [...processed].sort((x, y) => x - y), "counters only grow, event by event");
  const last = mine.at(-1)!;
  assert.deepEqual([last.status, last.processed, last.total, last.created, last.progress], ["completed", "30", "30", "30", 1]);
  assert.ok(last.rowsPerSecond! > 0);
  const early = mine.find((c) => c.status === "preparing")!;
  assert.equal(early.processed, "0", "an early event keeps the counters it had then");
  assert.ok(early.bulkAction, "and links the action itself");

  assert.equal(b.some((c) => c.accountId !== String(f.b.id)), false);
  assert.equal(a.some((c) => c.accountId !== String(f.a.id)), false);
  assert.deepEqual(aWatchingB, [], "A's subscription to B's action got nothing");
  assert.deepEqual(anonymous, [], "a subscription without a token gets nothing");
});

test("a subscription with a revoked or unknown token is refused", async () => {
  const client = createClient({
    url: `${f.api.url.replace(/^http/, "ws")}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: "Bearer bulkrun_unknown" },
    retryAttempts: 0,
  });
  clients.push(client);
  const error = await new Promise<unknown>((resolve) => {
    client.subscribe({ query: `subscription { bulkActionChanged { id } }` }, { next: () => resolve(undefined), error: resolve, complete: () => resolve(undefined) });
  });
  assert.match(JSON.stringify(error), /unknown or revoked/);
});
