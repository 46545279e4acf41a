import assert from "node:assert/strict";
import { createServer } from "node:net";
import { after, before, describe, test } from "node:test";
import { render } from "ink-testing-library";
import { startApi } from "../../runner/api/server.ts";
import { App } from "../../tui/App.tsx";
import { GraphqlClient } from "../../tui/client.ts";
import { apiFixture, type ApiFixture } from "../api/client.ts";
import { finished, submitCsv } from "../helpers/actions.ts";
import { until } from "../helpers/until.ts";

const DOWN = "\u001B[B";
const ENTER = "\r";
const ESC = "\u001B";

let f: ApiFixture;
let done: number;
let slow: number;
const clients: GraphqlClient[] = [];

const csv = (rows: number, bad: number) =>
  ["name,email", ...Array.from({ length: rows }, (_, i) => (i < bad ? `Bad ${i},bad-${i}` : `User ${i},user-${i}@example.com`))].join("\n");

const status = async (id: number) => (await f.ctx.db.knex("bulkrun.bulk_actions").where({ id }).first()).status as string;

/** The dashboard on a fake terminal; `screen()` is what it shows now. */
function dashboard(url: string, token: string, refreshMs = 60_000) {
  const client = new GraphqlClient({ url, token });
  clients.push(client);
  const app = render(<App client={client} refreshMs={refreshMs} color={false} />);
  const screen = () => app.lastFrame() ?? "";
  const sees = (what: string, pattern: RegExp) => until(`the screen to show ${what}`, async () => pattern.test(screen()), 15_000).catch((error: Error) => {
    throw new Error(`${error.message}; the screen:\n${screen()}`);
  });
  const press = async (...keys: string[]) => {
    for (const key of keys) {
      app.stdin.write(key);
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
  };
  return { app, screen, sees, press };
}

before(async () => {
  f = await apiFixture();
  await f.ctx.startWorker();
  done = (await finished(f.ctx, (await submitCsv(f.ctx, { accountId: f.a.id, chunkSize: 10 }, csv(30, 3))).id)).id;
  // At 10 rows a minute, one chunk runs and the rest wait for the bucket: it stays running.
  await f.ctx.db.knex("bulkrun.accounts").where({ id: f.b.id }).update({ rate_limit_per_minute: 10 });
  slow = (await submitCsv(f.ctx, { accountId: f.b.id, chunkSize: 10 }, csv(500, 0))).id;
  await until("the slow action runs", async () => (await status(slow)) === "running");
});
after(async () => {
  for (const client of clients) await client.close();
  await f?.close();
});

describe("the dashboard against the API", () => {
  test("keys: select, detail and back, pause and resume, cancel only once confirmed, filter by account; live changes show", async () => {
    const { app, screen, sees, press } = dashboard(f.api.url, f.adminToken);
    try {
      await sees("both actions, the running one first", new RegExp(`›${slow} users\\.import +${f.b.name} +running[^\\n]*\\n +${done} users\\.import +${f.a.name} +completed`));
      assert.match(screen(), /↑↓ move +Enter detail/);

      await press("p");
      await sees("the action paused", new RegExp(`action ${slow} paused: now paused`));
      assert.equal(await status(slow), "paused");
      await press("r");
      await sees("the action resumed", new RegExp(`›${slow} [^\\n]* running `));
      assert.equal(await status(slow), "running");

      await press("c");
      await sees("the question", new RegExp(`cancel action ${slow}\\? .*y yes · n no`));
      await press("n");
      await sees("no cancel", new RegExp(`action ${slow} not cancelled`));
      assert.equal(await status(slow), "running");

      await press(DOWN, ENTER);
      await sees("the detail of the finished action", new RegExp(`action ${done} · users\\.import · ${f.a.name} · completed[\\s\\S]*3 × invalid: email \`…\` is not an email address\\n +row 1: \\{"name":"Bad 0","email":"bad-0"\\}`));
      await press(ESC);
      await sees("the table again", /ID +TYPE +ACCOUNT/);

      await press("/", ...f.b.name, ENTER);
      await sees("only the other account's actions", new RegExp(`actions: ${f.b.name} \\(Esc shows all\\)`));
      await until("the filter applies", async () => !new RegExp(`\\b${done} users`).test(screen()));

      const fresh = (await submitCsv(f.ctx, { accountId: f.b.id, runAt: new Date(Date.now() + 3_600_000) }, csv(1, 0))).id;
      await sees("the new action, pushed by the subscription before the next refresh", new RegExp(`\\b${fresh} users\\.import +${f.b.name} +scheduled`));

      await press(ESC, "c", "y");
      await sees("the action cancelled", new RegExp(`action ${slow} cancelled: now cancelled`));
      assert.equal(await status(slow), "cancelled");
    } finally {
      app.unmount();
    }
  });

  test("an API that does not answer shows 'reconnecting', and the dashboard recovers once it is back", async () => {
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, "127.0.0.1", () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const { app, sees } = dashboard(`http://127.0.0.1:${port}`, f.adminToken, 300);
    try {
      await sees("reconnecting", new RegExp(`reconnecting · the API at http://127\\.0\\.0\\.1:${port} does not answer \\(ECONNREFUSED\\)`));
      const api = await startApi(f.ctx, { port, host: "127.0.0.1" });
      try {
        await sees("the table", new RegExp(`\\b${done} users\\.import`));
        assert.doesNotMatch(app.lastFrame()!, /reconnecting/);
      } finally {
        await api.stop();
      }
    } finally {
      app.unmount();
    }
  });
});
