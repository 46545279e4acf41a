import type { GraphqlClient } from "./client.ts";
import { counters, maybeDate, maybeNum, num } from "./values.ts";
import type { AccountState, ActionDetail, ActionSummary, ControlVerb, FailureReason, Overview, SampleRow } from "./model.ts";

/** Actions the table lists: the most recently changed ones. */
const ACTION_LIMIT = 200;

const ACTION_FIELDS = `rowId type accountId status total processed created updated deleted skipped failed
  progress rowsPerSecond eta createdAt updatedAt`;

const OVERVIEW = `query Overview($first: Int!, $condition: BulkActionCondition) {
  runnerSummary { alive dead workersBusy workersTotal }
  queueDepth { queuedActions activeActions pendingChunks pendingRows }
  throughput(seconds: 60) { nodes { rowsPerSecond } }
  allAccounts(orderBy: NAME_ASC) { nodes { rowId name rateLimitPerMinute rowsAvailable quotaFullAt } }
  allBulkActions(first: $first, condition: $condition, orderBy: UPDATED_AT_DESC) { nodes { ${ACTION_FIELDS} } }
}`;

const DETAIL = `query Detail($id: BigInt!, $slots: Int!) {
  bulkActionByRowId(rowId: $id) {
    ${ACTION_FIELDS}
    accountByAccountId { name }
    options source chunkSize dryRun startedAt finishedAt error
    bulkActionChunksByActionId { totalCount }
    chunkTimeline(slots: $slots) { nodes { chunks done failed retried } }
    throughput(slots: $slots) { nodes { rowsPerSecond } }
    failureReasons(samples: 2, reasons: 5) { nodes { outcome reason rows samples } }
  }
}`;

const MUTATIONS: Record<ControlVerb, string> = {
  pause: "pauseAction",
  resume: "resumeAction",
  cancel: "cancelAction",
  retry: "retryAction",
};

type Raw = Record<string, any>;

function action(raw: Raw, accountNames: ReadonlyMap<number, string>): ActionSummary {
  const accountId = num(raw.accountId);
  return {
    id: num(raw.rowId),
    type: raw.type,
    accountId,
    account: raw.accountByAccountId?.name ?? accountNames.get(accountId) ?? String(accountId),
    status: raw.status,
    ...counters(raw),
    eta: maybeDate(raw.eta),
    createdAt: new Date(raw.createdAt),
    updatedAt: new Date(raw.updatedAt),
  };
}

function account(raw: Raw): AccountState {
  return {
    id: num(raw.rowId),
    name: raw.name,
    rateLimitPerMinute: maybeNum(raw.rateLimitPerMinute),
    rowsAvailable: maybeNum(raw.rowsAvailable),
    quotaFullAt: maybeDate(raw.quotaFullAt),
  };
}

/** Which actions the table lists (the `/` filter). */
export interface ActionFilter {
  status?: string;
  accountId?: number;
}

/** Runners, queue, rows per second over the last minute, accounts and the latest actions, in one request. */
export async function fetchOverview(client: GraphqlClient, filter: ActionFilter = {}): Promise<Overview> {
  const condition = {
    ...(filter.status !== undefined && { status: filter.status }),
    ...(filter.accountId !== undefined && { accountId: String(filter.accountId) }),
  };
  const data = await client.request<Raw>(OVERVIEW, { first: ACTION_LIMIT, condition });
  const accounts = (data.allAccounts.nodes as Raw[]).map(account);
  const names = new Map(accounts.map((a) => [a.id, a.name]));
  const queue = data.queueDepth ?? {};
  return {
    runners: data.runnerSummary,
    queue: {
      queuedActions: num(queue.queuedActions),
      activeActions: num(queue.activeActions),
      pendingChunks: num(queue.pendingChunks),
      pendingRows: num(queue.pendingRows),
    },
    throughput: (data.throughput?.nodes ?? []).map((n: Raw) => n.rowsPerSecond),
    accounts,
    actions: (data.allBulkActions.nodes as Raw[]).map((raw) => action(raw, names)),
  };
}

/** One action with its options, chunks, throughput over time and failure reasons; null when it does not exist for this token. */
export async function fetchDetail(client: GraphqlClient, id: number, slots: number): Promise<ActionDetail | null> {
  const data = await client.request<Raw>(DETAIL, { id: String(id), slots: Math.max(1, slots) });
  const raw = data.bulkActionByRowId;
  if (!raw) return null;
  return {
    action: action(raw, new Map()),
    options: raw.options,
    source: raw.source,
    chunkSize: maybeNum(raw.chunkSize),
    dryRun: raw.dryRun,
    startedAt: maybeDate(raw.startedAt),
    finishedAt: maybeDate(raw.finishedAt),
    error: raw.error,
    chunkCount: num(raw.bulkActionChunksByActionId.totalCount),
    chunks: raw.chunkTimeline.nodes,
    throughput: raw.throughput.nodes.map((n: Raw) => n.rowsPerSecond),
    failures: (raw.failureReasons.nodes as Raw[]).map(
      (f): FailureReason => ({ outcome: f.outcome, reason: f.reason, rows: num(f.rows), samples: f.samples as SampleRow[] }),
    ),
  };
}

/** Pauses, resumes, cancels or retries an action; returns the status it has now (retry: the new action's id too). */
export async function control(client: GraphqlClient, verb: ControlVerb, id: number): Promise<{ id: number; status: string }> {
  const field = MUTATIONS[verb];
  const data = await client.request<Raw>(
    `mutation ($id: BigInt!) { ${field}(input: { actionId: $id }) { result { rowId status } } }`,
    { id: String(id) },
  );
  const result = data[field].result;
  return { id: num(result.rowId), status: result.status };
}
