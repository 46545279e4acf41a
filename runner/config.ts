import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
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
     * Attempts a chunk gets before its rows are marked failed.
     * @default 5
     */
    chunkAttempts?: number;
    /**
     * How long a stopping runner waits for running chunks, in ms.
     * @default 30000
     */
    shutdownGraceMs?: number;
  };
  /**
   * Rows per chunk when an action does not say. Env: BULKRUN_CHUNK_SIZE.
   * @default 5000
   */
  chunkSize?: number;
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
  };
  readonly chunkSize: number;
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
    if (!plugin || typeof plugin.name !== "string" || typeof plugin.processChunk !== "function") {
      throw new BulkrunError("BULKRUN_ERR_CONFIG", "every entry of `plugins` must be made by defineAction({...})");
    }
    if (plugins.has(plugin.name)) {
      throw new BulkrunError("BULKRUN_ERR_CONFIG", `two plugins are named \`${plugin.name}\`; action type names must be unique`);
    }
    plugins.set(plugin.name, plugin);
  }
  const worker = config.worker ?? {};
  return Object.freeze({
    plugins,
    database: Object.freeze({
      url: env.DATABASE_URL || config.database?.url,
      dataDir: resolve(PROJECT_ROOT, env.BULKRUN_DATA_DIR ?? config.database?.dataDir ?? ".bulkrun/pgdata"),
    }),
    worker: Object.freeze({
      concurrency: integer("worker.concurrency (BULKRUN_CONCURRENCY)", env.BULKRUN_CONCURRENCY ?? worker.concurrency, 2, 1, 64),
      pollInterval: integer("worker.pollInterval", worker.pollInterval, 1000, 50, 60_000),
      chunkAttempts: integer("worker.chunkAttempts", worker.chunkAttempts, 5, 1, 25),
      shutdownGraceMs: integer("worker.shutdownGraceMs", worker.shutdownGraceMs, 30_000, 0, 3_600_000),
    }),
    chunkSize: integer("chunkSize (BULKRUN_CHUNK_SIZE)", env.BULKRUN_CHUNK_SIZE ?? config.chunkSize, 5000, 1, 100_000),
  });
}

function integer(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined || value === "") return fallback;
  const n = typeof value === "string" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
    throw new BulkrunError("BULKRUN_ERR_CONFIG", `${name} must be a whole number from ${min} to ${max} (got ${JSON.stringify(value)})`);
  }
  return n;
}
