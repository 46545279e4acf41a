import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { createToken } from "../../runner/engine/tokens.ts";
import { newAccount, submitCsv } from "../helpers/actions.ts";
import { lines, runCli, startCli, type RunningCli } from "../helpers/cli.ts";
import { until } from "../helpers/until.ts";
import { testRuntime, type TestRuntime } from "../helpers/runtime.ts";

const ROOT = resolve(import.meta.dirname, "../..");
// A server of its own, so the test neither sees nor touches anyone's tmux sessions.
const SOCKET = `bulkrun-test-${process.pid}`;
const tmux = (...args: string[]) => execFileSync("tmux", ["-L", SOCKET, ...args], { encoding: "utf8" });

let ctx: TestRuntime;
let runner: RunningCli;
let url: string;
let adminToken: string;
let accountName: string;
let actionId: number;

const status = async () => (await ctx.db.knex("bulkrun.bulk_actions").where({ id: actionId }).first()).status as string;

/** The help line of the actions list. */
const HELP = /^↑↓ move .* q quit$/;

/** `bulkrun tui` in a tmux window. */
interface Terminal {
  screen(): string;
  /** The screen's lines as the program wrote them: a line the terminal wrapped is one again; trailing blanks cut. */
  lines(): string[];
  sees(what: string, pattern: RegExp): Promise<RegExpExecArray>;
  keys(...keys: string[]): void;
  /** Resizes the window, as a user dragging the terminal's corner does. */
  resize(columns: number, rows: number): void;
}

/**
 * Opens `bulkrun tui` in a real terminal of 100×30; the shell says how it exited. CI is set, as on
 * a build machine: Ink would draw nothing until exit there unless told the terminal is interactive.
 */
function openTui(session: string, token: string): Terminal {
  const command = [
    `cd ${JSON.stringify(ROOT)}`,
    `env -u NODE_TEST_CONTEXT NO_COLOR=1 CI=true BULKRUN_TOKEN=${token} ${JSON.stringify(process.execPath)} --import tsx runner/cli/entry.ts tui --url ${url}`,
  ].join(" && ");
  tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "30", `${command}; echo "EXIT $?"; sleep 600`);
  const screen = () => tmux("capture-pane", "-p", "-t", session);
  return {
    screen,
    lines: () => tmux("capture-pane", "-p", "-J", "-t", session).replace(/\n$/, "").split("\n").map((line) => line.trimEnd()),
    sees: (what, pattern) =>
      until(`the terminal to show ${what}`, async () => pattern.exec(screen()), 30_000).catch((error: Error) => {
        throw new Error(`${error.message}; the terminal:\n${screen()}`);
      }),
    keys: (...keys) => tmux("send-keys", "-t", session, ...keys) && undefined,
    resize: (columns, rows) => tmux("resize-window", "-t", session, "-x", String(columns), "-y", String(rows)) && undefined,
  };
}

before(async () => {
  ctx = await testRuntime();
  const account = await newAccount(ctx);
  accountName = account.name;
  // 1 200 rows a minute: after the first minute's worth, a 20-row chunk every second.
  await ctx.db.knex("bulkrun.accounts").where({ id: account.id }).update({ rate_limit_per_minute: 1200 });
  adminToken = (await createToken(ctx.db.knex, null, "terminal test")).token;
  runner = startCli(["start", "--no-dashboard"], { databaseUrl: ctx.url, timeoutMs: 300_000, env: { BULKRUN_API_PORT: "0" } });
  let stderr = "";
  runner.child.stderr!.on("data", (chunk: string) => (stderr += chunk));
  await runner.stderrMatches(/running \(pid/);
  url = /api listening on (http:\/\/\S+)\/graphql/.exec(stderr)![1]!;
  const rows = ["name,email", ...Array.from({ length: 6000 }, (_, i) => `User ${i},user-${i}@example.com`)].join("\n");
  actionId = (await submitCsv(ctx, { accountId: account.id, chunkSize: 20 }, rows)).id;
});
after(async () => {
  try {
    tmux("kill-server");
  } catch {
    // No session was left.
  }
  runner?.child.kill("SIGTERM");
  await runner?.result.catch(() => {});
  await ctx?.close();
});

describe("bulkrun tui in a real terminal", () => {
  test("fits the terminal it is resized to while the import runs: 80×24, then 100×30 again", async () => {
    const tui = openTui("resize", adminToken);
    const row = new RegExp(`›${actionId} .* running +\\S+ +\\d+%`);
    await tui.sees("the import running", row);
    for (const [columns, rows] of [[80, 24], [100, 30]] as const) {
      tui.resize(columns, rows);
      // Until the dashboard redraws, the terminal keeps the old picture, cropped: its top is cut off, or the bottom is blank.
      await tui.sees(`the whole dashboard at ${columns}×${rows}`, /^runners 1 alive.*\n[\s\S]*\n↑↓ move .* q quit *\n *\n$/);
      const lines = tui.lines();
      assert.equal(lines.length, rows, "no line wrapped");
      assert.deepEqual(lines.filter((line) => [...line].length > columns), [], "no line wider than the terminal");
      assert.deepEqual(lines.slice(0, 4).map((line) => line.split(" ")[0]), ["runners", "queue", "rows/s", "accounts"], "the overview, no line of it broken");
      assert.ok(lines.some((line) => row.test(line)), `the action and its status still shown:\n${lines.join("\n")}`);
      assert.match(lines.findLast((line) => line !== "")!, HELP);
    }
    // Wide again, the table takes the width back.
    assert.ok(tui.lines().some((line) => line.length > 80), tui.screen());
    tui.keys("q");
    await tui.sees("the dashboard gone", /EXIT 0/);
  });

  test("shows a running import advance; c then y cancels it, on the screen and in the database; q quits", async () => {
    const tui = openTui("watch", adminToken);
    const row = new RegExp(`›${actionId} users\\.import +${accountName} +running +\\S+ +(\\d+)% +\\S+ +\\S+ +([\\d.]+k?)`);
    const first = await tui.sees("the import running", row);
    await tui.sees("its progress advance", new RegExp(`›${actionId} users\\.import +${accountName} +running +\\S+ +(?!${first[1]}%)\\d+%`));
    assert.match(tui.screen(), /runners 1 alive · workers \d\/2 busy/);
    assert.match(tui.screen(), new RegExp(`accounts ${accountName} 1\\.20k/min`));

    tui.keys("c");
    await tui.sees("the question", new RegExp(`cancel action ${actionId}\\? .*y yes · n no`));
    tui.keys("y");
    await tui.sees("the action cancelled", new RegExp(`›${actionId} users\\.import +${accountName} +cancelled`));
    assert.equal(await status(), "cancelled");

    tui.keys("q");
    await tui.sees("the dashboard gone", /EXIT 0/);
  });

  test("a refused token is said plainly, with exit code 1", async () => {
    const tui = openTui("refused", "bulkrun_not-a-token");
    await tui.sees("the refusal", /bulkrun: the API at \S+ refused the token: the API token is unknown or revoked[\s\S]*\[BULKRUN_ERR_UNAUTHORIZED\]\s+EXIT 1/);
  });

  test("without a terminal, it prints a plain progress line instead", async () => {
    const plain = startCli(["tui", "--url", url, "--token", adminToken], { databaseUrl: ctx.url });
    const out: string[] = [];
    plain.child.stdout!.on("data", (chunk: string) => out.push(chunk));
    await until("a progress line", async () => /rows\/s · workers \d\/2 · \d+ waiting, \d+ active/.test(out.join("")));
    plain.child.kill("SIGTERM");
    const result = await plain.result;
    assert.equal(result.code, 0);
    assert.match(lines(result.stdout)[0]!, /^\d{4}-\d\d-\d\dT\S+ \S+ rows\/s · workers/);
    const refused = await runCli(["tui", "--url", url, "--token", "bulkrun_not-a-token"], { databaseUrl: ctx.url });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /refused the token.*\[BULKRUN_ERR_UNAUTHORIZED\]/);
  });
});
