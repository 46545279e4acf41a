/** What the dashboard shows, as plain data: components draw these and nothing else. */

/** One bulk action as a row of the actions table. */
export interface ActionSummary {
  id: number;
  type: string;
  accountId: number;
  /** The account's name; its id while the name is not known. */
  account: string;
  status: string;
  total: number | null;
  processed: number;
  created: number;
  updated: number;
  deleted: number;
  skipped: number;
  failed: number;
  /** 0 to 1; null until the rows are counted. */
  progress: number | null;
  rowsPerSecond: number | null;
  eta: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** An account with its rate-limit state. */
export interface AccountState {
  id: number;
  name: string;
  /** Rows per minute; null is unlimited. */
  rateLimitPerMinute: number | null;
  rowsAvailable: number | null;
  quotaFullAt: Date | null;
}

/** Runner processes and their worker slots; null for an account token (admin only). */
export interface RunnerState {
  alive: number;
  dead: number;
  workersBusy: number;
  workersTotal: number;
}

/** The work waiting. */
export interface QueueState {
  queuedActions: number;
  activeActions: number;
  pendingChunks: number;
  pendingRows: number;
}

/** The overview and the actions table, from one request. */
export interface Overview {
  runners: RunnerState | null;
  queue: QueueState;
  /** Rows per second, one value per second, oldest first (the last 60 s). */
  throughput: number[];
  accounts: AccountState[];
  actions: ActionSummary[];
}

/** A run of consecutive chunks. */
export interface ChunkSlot {
  chunks: number;
  done: number;
  failed: number;
  retried: number;
}

/** A row of the ledger shown as an example of a failure. */
export interface SampleRow {
  rowNumber: number;
  error: string | null;
  data: unknown;
}

/** Why rows failed, most frequent first. */
export interface FailureReason {
  outcome: string | null;
  reason: string;
  rows: number;
  samples: SampleRow[];
}

/** Everything the detail view of one action shows. */
export interface ActionDetail {
  action: ActionSummary;
  options: unknown;
  source: unknown;
  chunkSize: number | null;
  dryRun: boolean;
  startedAt: Date | null;
  finishedAt: Date | null;
  error: string | null;
  chunkCount: number;
  chunks: ChunkSlot[];
  /** Rows per second over the action's life, in equal time slots. */
  throughput: number[];
  failures: FailureReason[];
}

/** What the keys `p`, `r`, `c` and `x` ask the API for. */
export type ControlVerb = "pause" | "resume" | "cancel" | "retry";
