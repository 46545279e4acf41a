import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { DURATION_EXAMPLES, parseDuration } from "./duration.ts";
import { BulkrunError } from "./errors.ts";
import type { AnyAction } from "./plugin.ts";

/** The configuration as written in runner.config.ts; every field is optional but `plugins`. */
export interface BulkrunConfig {
  /** Action types this runner knows; one line per plugin. */
  plugins: AnyAction[];
  database?: {
    /** Postgres connection string; when absent, an embedded Postgres is started. Env: DATABASE_URL. */
    url?: string;
    /**
     * Where the embedded Postgres keeps its data. Env: BULKRUN_DATA_DIR.
     * @default ".bulkrun/pgdata"
     */
    dataDir?: string;
  };
  worker?: {
    /**
     * Jobs (prepare or chunk) one runner process works on at once. Env: BULKRUN_CONCURRENCY.
     * @default 2
     */
    concurrency?: number;
    /**
     * How often idle workers look for jobs, in ms (new jobs are announced at once anyway).
     * @default 1000
     */
    pollInterval?: number;
    /**
     * Attempts a chunk gets before its rows are marked failed. Env: BULKRUN_CHUNK_ATTEMPTS.
     * @default 5
     */
    chunkAttempts?: number;
    /**
     * How long a stopping runner waits for running chunks, in ms; chunks still running then are
     * rolled back and returned to the queue. Env: BULKRUN_SHUTDOWN_GRACE_MS.
     * @default 30000
     */
    shutdownGraceMs?: number;
    /**
     * How often a runner process records that it is alive (and looks for dead ones), in ms.
     * Env: BULKRUN_HEARTBEAT_MS.
     * @default 5000
     */
    heartbeatMs?: number;
    /**
     * A runner whose last beat is older than this, in ms, is dead: a live runner hands its locked
     * jobs to the queue again. At least twice `heartbeatMs`. Env: BULKRUN_DEAD_AFTER_MS.
     * @default 30000
     */
    deadAfterMs?: number;
  };
  /**
   * Rows per chunk when an action does not say. Env: BULKRUN_CHUNK_SIZE.
   * @default 5000
   */
  chunkSize?: number;
  /**
   * The window an account's `rate_limit_per_minute` is counted over, in ms: a minute in
   * production; tests shorten it so a limit can be watched in seconds. Env: BULKRUN_RATE_LIMIT_WINDOW_MS.
   * @default 60000
   */
  rateLimitWindowMs?: number;
  accounts?: {
    /**
     * The rate limit a new account gets unless it is created with one (or `--unlimited`), in
     * rows per minute; null is unlimited.
     * @default null
     */
    defaultRateLimitPerMinute?: number | null;
  };
  /** Delivery of the webhooks sent when an action ends. */
  webhooks?: {
    /**
     * How long one attempt may take (connect, send, answer), in ms.
     * @default 10000
     */
    timeoutMs?: number;
    /**
     * Wait before the second attempt, in ms; it doubles for each attempt after that.
     * @default 1000
     */
    backoffMs?: number;
    /**
     * Attempts before a delivery is recorded as failed.
     * @default 8
     */
    attempts?: number;
  };
  /** The GraphQL API (`bulkrun api`, and part of `bulkrun start`). */
  api?: {
    /**
     * Port it listens on; 0 picks a free one. Env: BULKRUN_API_PORT.
     * @default 4000
     */
    port?: number;
    /**
     * Address it listens on: loopback unless you mean to serve other machines. Env: BULKRUN_API_HOST.
     * @default "127.0.0.1"
     */
    host?: string;
    /**
     * Largest CSV `POST /upload` accepts, in bytes. Env: BULKRUN_API_MAX_UPLOAD_BYTES.
     * @default 1073741824
     */
    maxUploadBytes?: number;
  };
  /** The terminal dashboard (`bulkrun tui`, and `bulkrun start` on a terminal). */
  dashboard?: {
    /**
     * The API the dashboard watches. Env: BULKRUN_API_URL.
     * @default "http://<api.host>:<api.port>"
     */
    url?: string;
    /** The API token it sends; an admin token shows every account and the runners. Env: BULKRUN_TOKEN. */
    token?: string;
    /**
     * How often it asks the API for the whole picture, in ms; changes of actions arrive between
     * (subscription) and are drawn at most ten times a second.
     * @default 2000
     */
    refreshMs?: number;
  };
  /**
   * Ledger retention: every runner (`bulkrun start`, `bulkrun worker`) removes the per-row ledger
   * and the chunks of actions that finished longer ago than `olderThan`, as `bulkrun prune` does.
   * The actions themselves and their counters stay.
   */
  retention?: {
    /**
     * Age, since the action finished, after which its ledger goes: a whole number and a unit (s, m,
     * h, d, w) such as "30d"; null keeps every ledger forever. Thirty days leaves a month to read
     * (`bulkrun logs`) or retry an action's rows, and keeps the largest table, which holds copies of
     * the input rows (personal data included), from growing without end.
     * Env: BULKRUN_RETENTION_OLDER_THAN (`off` for null).
     * @default "30d"
     */
    olderThan?: string | null;
    /**
     * Keep the failed rows (the ones `bulkrun logs --status failed` and `bulkrun retry` read).
     * Env: BULKRUN_RETENTION_KEEP_FAILED (`true` or `false`).
     * @default false
     */
    keepFailed?: boolean;
    /**
     * How often each runner prunes, in ms (runners take turns: one prunes at a time).
     * Env: BULKRUN_RETENTION_INTERVAL_MS.
     * @default 3600000
     */
    intervalMs?: number;
    /**
     * Ledger rows (or chunks) removed per statement, each its own short transaction.
     * Env: BULKRUN_RETENTION_BATCH_SIZE.
     * @default 5000
     */
    batchSize?: number;
  };
  /** Fetching URL sources (`{"url": ...}`). */
  sources?: {
    /**
     * How long a URL may stay silent, in ms: before it answers, or between two parts of its body.
     * @default 30000
     */
    urlTimeoutMs?: number;
    /**
     * Attempts at fetching a URL that does not answer, breaks off or answers 5xx, before the
     * action fails with BULKRUN_ERR_URL_UNAVAILABLE.
     * @default 5
     */
    urlAttempts?: number;
    /**
     * Wait before the second attempt, in ms; it doubles for each attempt after that.
     * @default 2000
     */
    urlRetryDelayMs?: number;
  };
}

/** The validated, frozen configuration every part of bulkrun receives. */
export interface ResolvedConfig {
  readonly plugins: ReadonlyMap<string, AnyAction>;
  readonly database: { readonly url: string | undefined; readonly dataDir: string };
  readonly worker: {
    readonly concurrency: number;
    readonly pollInterval: number;
    readonly chunkAttempts: number;
    readonly shutdownGraceMs: number;
    readonly heartbeatMs: number;
    readonly deadAfterMs: number;
  };
  readonly chunkSize: number;
  readonly rateLimitWindowMs: number;
  readonly accounts: { readonly defaultRateLimitPerMinute: number | null };
  readonly webhooks: { readonly timeoutMs: number; readonly backoffMs: number; readonly attempts: number };
  readonly sources: { readonly urlTimeoutMs: number; readonly urlAttempts: number; readonly urlRetryDelayMs: number };
  readonly retention: {
    /** As written ("30d"), for messages; null when retention is off. */
    readonly olderThan: string | null;
    /** The same in milliseconds. */
    readonly olderThanMs: number | null;
    readonly keepFailed: boolean;
    readonly intervalMs: number;
    readonly batchSize: number;
  };
  readonly api: { readonly port: number; readonly host: string; readonly maxUploadBytes: number };
  readonly dashboard: {
    readonly url: string;
    readonly token: string | undefined;
    readonly refreshMs: number;
    /** False when NO_COLOR is set (https://no-color.org). */
    readonly color: boolean;
  };
}

/** Types runner.config.ts. */
export function defineConfig(config: BulkrunConfig): BulkrunConfig {
  return config;
}

const PROJECT_ROOT = resolve(import.meta.dirname, "..");

/**
 * Loads runner.config.ts (or the file in BULKRUN_CONFIG) and applies the environment on top.
 * This is the only reader of process.env in bulkrun.
 */
export async function loadConfig(env: NodeJS.ProcessEnv = process.env): Promise<ResolvedConfig> {
  const path = resolve(env.BULKRUN_CONFIG ?? resolve(PROJECT_ROOT, "runner.config.ts"));
  let config: BulkrunConfig;
  try {
    config = ((await import(pathToFileURL(path).href)) as { default: BulkrunConfig }).default;
  } catch (cause) {
    throw new BulkrunError("BULKRUN_ERR_CONFIG", `cannot load the configuration ${path}: ${String(cause)}`, { cause });
  }
  return resolveConfig(config, env);
}

/** Validates a configuration object and merges the environment into it. */
export function resolveConfig(config: BulkrunConfig, env: NodeJS.ProcessEnv = {}): ResolvedConfig {
  if (!config || !Array.isArray(config.plugins)) {
    throw new BulkrunError("BULKRUN_ERR_CONFIG", "the configuration must export default defineConfig({ plugins: [...] })");
  }
  const plugins = new Map<string, AnyAction>();
  for (const plugin of config.plugins) {
    if (!plugin || typeof plugin.name !== "string") {
      throw new BulkrunError("BULKRUN_ERR_CONFIG", "every entry of `plugins` must be made by defineAction({...})");
    }
    if ((typeof plugin.processChunk === "function") === (typeof plugin.chunkQuery === "function")) {
      throw new BulkrunError("BULKRUN_ERR_CONFIG", `plugin \`${plugin.name}\` must define exactly one of processChunk and chunkQuery`);
    }
    if (plugins.has(plugin.name)) {
      throw new BulkrunError("BULKRUN_ERR_CONFIG", `two plugins are named \`${plugin.name}\`; action type names must be unique`);
    }
    plugins.set(plugin.name, plugin);
  }
  const worker = config.worker ?? {};
  const api = Object.freeze({
    port: integer("api.port (BULKRUN_API_PORT)", env.BULKRUN_API_PORT ?? config.api?.port, 4000, 0, 65_535),
    host: env.BULKRUN_API_HOST || config.api?.host || "127.0.0.1",
    maxUploadBytes: integer(
      "api.maxUploadBytes (BULKRUN_API_MAX_UPLOAD_BYTES)",
      env.BULKRUN_API_MAX_UPLOAD_BYTES ?? config.api?.maxUploadBytes,
      1_073_741_824,
      1,
      Number.MAX_SAFE_INTEGER,
    ),
  });
  return Object.freeze({
    plugins,
    database: Object.freeze({
      url: env.DATABASE_URL || config.database?.url,
      dataDir: resolve(PROJECT_ROOT, env.BULKRUN_DATA_DIR ?? config.database?.dataDir ?? ".bulkrun/pgdata"),
    }),
    worker: Object.freeze({
      concurrency: integer("worker.concurrency (BULKRUN_CONCURRENCY)", env.BULKRUN_CONCURRENCY ?? worker.concurrency, 2, 1, 64),
      pollInterval: integer("worker.pollInterval", worker.pollInterval, 1000, 50, 60_000),
      chunkAttempts: integer("worker.chunkAttempts (BULKRUN_CHUNK_ATTEMPTS)", env.BULKRUN_CHUNK_ATTEMPTS ?? worker.chunkAttempts, 5, 1, 25),
      shutdownGraceMs: integer(
        "worker.shutdownGraceMs (BULKRUN_SHUTDOWN_GRACE_MS)",
        env.BULKRUN_SHUTDOWN_GRACE_MS ?? worker.shutdownGraceMs,
        30_000,
        0,
        3_600_000,
      ),
      ...liveness(worker, env),
    }),
    chunkSize: integer("chunkSize (BULKRUN_CHUNK_SIZE)", env.BULKRUN_CHUNK_SIZE ?? config.chunkSize, 5000, 1, 100_000),
    accounts: Object.freeze({
      defaultRateLimitPerMinute:
        config.accounts?.defaultRateLimitPerMinute == null
          ? null
          : integer("accounts.defaultRateLimitPerMinute", config.accounts.defaultRateLimitPerMinute, 0, 1, 1_000_000_000),
    }),
    rateLimitWindowMs: integer(
      "rateLimitWindowMs (BULKRUN_RATE_LIMIT_WINDOW_MS)",
      env.BULKRUN_RATE_LIMIT_WINDOW_MS ?? config.rateLimitWindowMs,
      60_000,
      100,
      3_600_000,
    ),
    webhooks: Object.freeze({
      timeoutMs: integer("webhooks.timeoutMs", config.webhooks?.timeoutMs, 10_000, 10, 300_000),
      backoffMs: integer("webhooks.backoffMs", config.webhooks?.backoffMs, 1000, 10, 3_600_000),
      attempts: integer("webhooks.attempts", config.webhooks?.attempts, 8, 1, 25),
    }),
    sources: Object.freeze({
      urlTimeoutMs: integer("sources.urlTimeoutMs", config.sources?.urlTimeoutMs, 30_000, 10, 3_600_000),
      urlAttempts: integer("sources.urlAttempts", config.sources?.urlAttempts, 5, 1, 25),
      urlRetryDelayMs: integer("sources.urlRetryDelayMs", config.sources?.urlRetryDelayMs, 2000, 0, 3_600_000),
    }),
    retention: retention(config.retention ?? {}, env),
    api,
    dashboard: Object.freeze({
      url: env.BULKRUN_API_URL || config.dashboard?.url || `http://${api.host.includes(":") ? `[${api.host}]` : api.host}:${api.port}`,
      token: env.BULKRUN_TOKEN || config.dashboard?.token,
      refreshMs: integer("dashboard.refreshMs", config.dashboard?.refreshMs, 2000, 100, 600_000),
      // Any value but the empty string turns colour off, as the convention says.
      color: !env.NO_COLOR,
    }),
  });
}

function liveness(worker: NonNullable<BulkrunConfig["worker"]>, env: NodeJS.ProcessEnv) {
  const heartbeatMs = integer("worker.heartbeatMs (BULKRUN_HEARTBEAT_MS)", env.BULKRUN_HEARTBEAT_MS ?? worker.heartbeatMs, 5000, 100, 60_000);
  const deadAfterMs = integer("worker.deadAfterMs (BULKRUN_DEAD_AFTER_MS)", env.BULKRUN_DEAD_AFTER_MS ?? worker.deadAfterMs, 30_000, 200, 3_600_000);
  // One late beat (a long GC pause, a slow query) must not get a live runner declared dead.
  if (deadAfterMs < 2 * heartbeatMs) {
    throw new BulkrunError(
      "BULKRUN_ERR_CONFIG",
      `worker.deadAfterMs (${deadAfterMs}) must be at least twice worker.heartbeatMs (${heartbeatMs}), so that one late beat does not declare a runner dead`,
    );
  }
  return { heartbeatMs, deadAfterMs };
}

function retention(section: NonNullable<BulkrunConfig["retention"]>, env: NodeJS.ProcessEnv): ResolvedConfig["retention"] {
  const name = "retention.olderThan (BULKRUN_RETENTION_OLDER_THAN)";
  const written = env.BULKRUN_RETENTION_OLDER_THAN || (section.olderThan === undefined ? "30d" : section.olderThan);
  const olderThan = written === null || written === "off" ? null : written;
  const olderThanMs = olderThan === null ? null : typeof olderThan === "string" ? parseDuration(olderThan) : undefined;
  if (olderThanMs === undefined) {
    throw new BulkrunError(
      "BULKRUN_ERR_CONFIG",
      `${name} must be a duration such as ${DURATION_EXAMPLES}, or null (\`off\`) to keep every ledger (got ${JSON.stringify(olderThan)})`,
    );
  }
  return Object.freeze({
    olderThan,
    olderThanMs,
    keepFailed: boolean("retention.keepFailed (BULKRUN_RETENTION_KEEP_FAILED)", env.BULKRUN_RETENTION_KEEP_FAILED ?? section.keepFailed, false),
    intervalMs: integer(
      "retention.intervalMs (BULKRUN_RETENTION_INTERVAL_MS)",
      env.BULKRUN_RETENTION_INTERVAL_MS ?? section.intervalMs,
      3_600_000,
      100,
      86_400_000,
    ),
    batchSize: integer("retention.batchSize (BULKRUN_RETENTION_BATCH_SIZE)", env.BULKRUN_RETENTION_BATCH_SIZE ?? section.batchSize, 5000, 1, 100_000),
  });
}

function boolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined || value === "") return fallback;
  if (value === true || value === "true") return true;
  if (value === false || value === "false") return false;
  throw new BulkrunError("BULKRUN_ERR_CONFIG", `${name} must be true or false (got ${JSON.stringify(value)})`);
}

function integer(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined || value === "") return fallback;
  const n = typeof value === "string" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
    throw new BulkrunError("BULKRUN_ERR_CONFIG", `${name} must be a whole number from ${min} to ${max} (got ${JSON.stringify(value)})`);
  }
  return n;
}
