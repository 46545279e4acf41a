import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { render } from "ink-testing-library";
import { resolveConfig } from "../../runner/config.ts";
import { byActivity } from "../../tui/activity.ts";
import { ActionDetail } from "../../tui/components/ActionDetail.tsx";
import { ActionTable } from "../../tui/components/ActionTable.tsx";
import { HelpLine } from "../../tui/components/HelpLine.tsx";
import { Overview } from "../../tui/components/Overview.tsx";
import { barText, ProgressBar } from "../../tui/components/ProgressBar.tsx";
import { Sparkline, sparkText } from "../../tui/components/Sparkline.tsx";
import { parseFilter } from "../../tui/filter.ts";
import type { ActionDetail as Detail, ActionSummary } from "../../tui/model.ts";

const NOW = Date.parse("2026-05-01T12:00:00Z");

function action(id: number, over: Partial<ActionSummary> = {}): ActionSummary {
  return {
    id,
    type: "users.import",
    accountId: 1,
    account: "acme",
    status: "running",
    total: 10_000,
    processed: 4_500,
    created: 4_000,
    updated: 300,
    deleted: 0,
    skipped: 150,
    failed: 50,
    progress: 0.45,
    rowsPerSecond: 1_250,
    eta: new Date(NOW + 44_000),
    createdAt: new Date(NOW - 60_000),
    updatedAt: new Date(NOW - 1_000),
    ...over,
  };
}

const frame = (node: React.ReactElement) => {
  const { lastFrame, unmount } = render(node);
  const text = lastFrame() ?? "";
  unmount();
  return text;
};

describe("progress bar", () => {
  test("fills in eighths of a character and shows the percentage", () => {
    assert.equal(barText(0, 8), "········");
    assert.equal(barText(0.5, 8), "████····");
    assert.equal(barText(0.52, 8), "████▏···");
    assert.equal(barText(1, 8), "████████");
    assert.equal(barText(null, 4), "····");
    assert.equal(frame(<ProgressBar share={0.456} width={10} />), "████▌·····  45%");
    assert.equal(frame(<ProgressBar share={null} width={4} />), "····   -%");
  });
});

describe("sparkline", () => {
  test("scales to the largest value, leaves idle seconds blank and keeps the newest values", () => {
    assert.equal(sparkText([0, 1, 2, 4, 8], 5), " ▁▂▄█");
    assert.equal(sparkText([8, 8, 0, 8], 2), " █");
    assert.equal(sparkText([3], 4), "   █");
    assert.equal(sparkText([0, 0], 2), "  ");
    assert.equal(frame(<Sparkline values={[1, 2, 3, 4, 5, 6, 7, 8]} width={8} />), "▁▂▃▄▅▆▇█");
  });
});

describe("actions table", () => {
  test("lists each action with type, account, status, progress, rows/s, ETA and counters", () => {
    const text = frame(<ActionTable actions={[action(7)]} selectedId={7} width={100} height={5} now={NOW} />);
    const [header, row] = text.split("\n");
    assert.match(header!, /ID +TYPE +ACCOUNT +STATUS +PROGRESS +ROWS\/S +ETA +CRE +UPD +SKIP +FAIL/);
    assert.match(row!, /›7 users\.import +acme +running +[█▏▎▍▌▋▊▉]+·+ +45% +1\.25k +44s +4\.00k +300 +150 +50$/);
  });

  test("fits 80 columns: names are cut, nothing wraps", () => {
    const text = frame(<ActionTable actions={[action(7), action(8, { type: "users.anonymize", account: "a-very-long-account" })]} selectedId={7} width={80} height={5} now={NOW} />);
    for (const line of text.split("\n")) assert.ok(line.length <= 80, `too wide: ${line}`);
    assert.match(text, /users\.a… a-ver…/);
  });

  test("scrolls to keep the selected action in sight and says how many are above and below", () => {
    const actions = Array.from({ length: 30 }, (_, i) => action(i + 1));
    const text = frame(<ActionTable actions={actions} selectedId={20} width={100} height={6} now={NOW} />);
    const ids = text.split("\n").slice(1).map((line) => Number(/^\s*›?(\d+)/.exec(line)![1]));
    assert.deepEqual(ids, [17, 18, 19, 20, 21, 22]);
    assert.match(text.split("\n")[0]!, /↑16 ↓8$/);
  });

  test("sorts by activity: running first, then waiting, then the most recently finished", () => {
    const sorted = byActivity([
      action(1, { status: "completed", updatedAt: new Date(NOW - 50_000) }),
      action(2, { status: "queued" }),
      action(3, { status: "failed", updatedAt: new Date(NOW - 10_000) }),
      action(4, { status: "running" }),
      action(5, { status: "paused" }),
    ]);
    assert.deepEqual(sorted.map((a) => a.id), [4, 5, 2, 3, 1]);
  });
});

describe("overview", () => {
  test("shows runners, worker slots, queue, current rows/s with its sparkline, and each account's rate-limit state", () => {
    const text = frame(
      <Overview
        width={100}
        now={NOW}
        data={{
          runners: { alive: 2, dead: 1, workersBusy: 3, workersTotal: 4 },
          queue: { queuedActions: 1, activeActions: 2, pendingChunks: 12, pendingRows: 120_000 },
          throughput: [0, 0, 100, 200, 300, 400],
          accounts: [
            { id: 1, name: "acme", rateLimitPerMinute: 6000, rowsAvailable: 0, quotaFullAt: new Date(NOW + 30_000) },
            { id: 2, name: "globex", rateLimitPerMinute: null, rowsAvailable: null, quotaFullAt: null },
          ],
          actions: [],
        }}
      />,
    );
    assert.match(text, /runners 2 alive, 1 dead · workers 3\/4 busy/);
    assert.match(text, /queue 1 waiting, 2 active, 12 chunks \/ 120k rows to go/);
    assert.match(text, /rows\/s +167 +▂▄▆█ \(last 60 s\)/);
    assert.match(text, /acme 6.00k\/min 0 left, full in 30s LIMITED · globex unlimited/);
  });
});

describe("detail", () => {
  const detail: Detail = {
    action: action(7, { status: "running" }),
    options: { on_conflict: "skip" },
    source: { kind: "staged" },
    chunkSize: 500,
    dryRun: false,
    startedAt: new Date(NOW - 90_000),
    finishedAt: null,
    error: null,
    chunkCount: 20,
    chunks: [
      { chunks: 2, done: 2, failed: 0, retried: 0 },
      { chunks: 2, done: 1, failed: 0, retried: 0 },
      { chunks: 2, done: 0, failed: 1, retried: 1 },
      { chunks: 2, done: 0, failed: 0, retried: 0 },
    ],
    throughput: [10, 20, 40, 80],
    failures: [
      {
        outcome: "invalid",
        reason: "email `…` is not an email address",
        rows: 48,
        samples: [{ rowNumber: 12, error: "email `x` is not an email address", data: { email: "x" } }],
      },
      { outcome: "chunk_failed", reason: "deadlock detected", rows: 2, samples: [] },
    ],
  };

  test("shows options, the chunk timeline, throughput over time and the top failure reasons with sample rows", () => {
    const text = frame(<ActionDetail detail={detail} width={100} height={28} now={NOW} />);
    assert.match(text, /action 7 · users\.import · acme · running · 1\.25k rows\/s · ETA 44s/);
    assert.match(text, /4 500 \/ 10 000 rows/);
    assert.match(text, /options \{"on_conflict":"skip"\} · source staged · chunk size 500/);
    assert.match(text, /running for 1m30s/);
    assert.match(text, /chunks \(20, in order/);
    assert.match(text, /\n█▒✗·\n/);
    assert.match(text, /throughput +▁▂▄█ max 80 rows\/s/);
    assert.match(text, /48 × invalid: email `…` is not an email address\n +row 12: \{"email":"x"\}/);
    assert.match(text, /2 × chunk_failed: deadlock detected/);
  });

  test("leaves sample rows out, before any reason, when the terminal is short", () => {
    const text = frame(<ActionDetail detail={detail} width={80} height={12} now={NOW} />);
    assert.match(text, /48 × invalid.*\n.*2 × chunk_failed/);
    assert.doesNotMatch(text, /row 12:/);
  });
});

describe("help line, filter and colour", () => {
  test("the help line names the keys, asks before a cancel, and shows what is typed after /", () => {
    assert.match(frame(<HelpLine mode={{ kind: "browse", view: "list" }} keys />), /↑↓ move +Enter detail +p pause +r resume +c cancel +x retry +\/ filter +q quit/);
    assert.match(frame(<HelpLine mode={{ kind: "browse", view: "detail" }} keys />), /^Esc back/);
    assert.match(frame(<HelpLine mode={{ kind: "confirm", actionId: 9 }} keys />), /cancel action 9\? .* y yes · n no/);
    assert.match(frame(<HelpLine mode={{ kind: "filter", text: "acm" }} keys />), /filter .*: acm█/);
    assert.match(frame(<HelpLine mode={{ kind: "browse", view: "list" }} keys={false} />), /keys need an interactive terminal/);
  });

  test("a filter is a status or an account name; anything else gets a guess", () => {
    const accounts = [{ id: 4, name: "acme", rateLimitPerMinute: null, rowsAvailable: null, quotaFullAt: null }];
    assert.deepEqual(parseFilter(" Running ", accounts), { text: "running", status: "running" });
    assert.deepEqual(parseFilter("acme", accounts), { text: "acme", accountId: 4 });
    assert.deepEqual(parseFilter("", accounts), { text: "" });
    assert.equal(parseFilter("runing", accounts), "no status or account `runing`; did you mean `running`?");
  });

  test("NO_COLOR turns colour off; the dashboard's URL and token come from the environment", () => {
    const base = { plugins: [] };
    assert.equal(resolveConfig(base, {}).dashboard.color, true);
    assert.equal(resolveConfig(base, { NO_COLOR: "1" }).dashboard.color, false);
    assert.equal(resolveConfig(base, { BULKRUN_API_PORT: "4100" }).dashboard.url, "http://127.0.0.1:4100");
    const remote = resolveConfig(base, { BULKRUN_API_URL: "https://runner.example:8443", BULKRUN_TOKEN: "bulkrun_x" }).dashboard;
    assert.deepEqual([remote.url, remote.token], ["https://runner.example:8443", "bulkrun_x"]);
  });
});
