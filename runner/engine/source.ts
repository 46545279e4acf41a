import { Readable } from "node:stream";
import { Agent, interceptors, request } from "undici";
import { BulkrunError } from "../errors.ts";
import { openCsv, type CsvReader } from "./csv.ts";

/** Where an action's rows come from, as stored in `bulk_actions.source`. */
export type ActionSource =
  | { kind: "staged"; file?: string }
  | { kind: "url"; url: string }
  | { kind: "inline"; rows: Record<string, unknown>[] }
  | { kind: "copy"; from: number; rows: "all" | "failed" }
  | { kind: "filter"; where: unknown };

/** Checks the `source` column of an action, whoever wrote it (CLI, API or plain SQL). */
export function parseSource(value: unknown): ActionSource {
  const source = (value ?? {}) as Record<string, unknown>;
  if (source.kind === "staged") return { kind: "staged" };
  if (source.kind === "filter" || (source.kind === undefined && source.where !== undefined)) {
    return { kind: "filter", where: source.where };
  }
  if (source.kind === "copy" && Number.isInteger(source.from) && (source.rows === "all" || source.rows === "failed")) {
    return { kind: "copy", from: source.from as number, rows: source.rows };
  }
  if (source.kind === "url" || (source.kind === undefined && typeof source.url === "string")) {
    if (typeof source.url !== "string" || !/^https?:\/\//i.test(source.url)) {
      throw new BulkrunError("BULKRUN_ERR_SOURCE", `source.url must be an http(s) URL (got ${JSON.stringify(source.url)})`);
    }
    return { kind: "url", url: source.url };
  }
  if (source.kind === "inline" || (source.kind === undefined && Array.isArray(source.rows))) {
    if (!Array.isArray(source.rows) || !source.rows.every((r) => r !== null && typeof r === "object" && !Array.isArray(r))) {
      throw new BulkrunError("BULKRUN_ERR_SOURCE", "source.rows must be an array of objects such as {\"email\": \"a@example.com\"}");
    }
    return { kind: "inline", rows: source.rows as Record<string, unknown>[] };
  }
  throw new BulkrunError(
    "BULKRUN_ERR_SOURCE",
    `the action has no usable source (got ${JSON.stringify(value)}); use {"url": "https://..."}, {"rows": [{...}]} or {"where": {...}}`,
  );
}

const dispatcher = new Agent().compose(interceptors.redirect({ maxRedirections: 5 }));

/** Options for fetching a URL source. */
export interface FetchOptions {
  /** @default 30000 */
  timeoutMs?: number;
}

/** Client errors that say "not now" rather than "never": timeout, too many requests. */
const RETRYABLE_4XX = [408, 429];

/**
 * Streams a CSV from an http(s) URL: the body is parsed as it arrives and never held whole.
 * A 4xx answer is final (BULKRUN_ERR_URL_FETCH); network errors, silence for `timeoutMs`, a
 * body that breaks off, 5xx, 408 and 429 may pass and are worth retrying
 * (BULKRUN_ERR_URL_UNAVAILABLE, thrown by the reader's `batches` once the body is streaming).
 */
export async function openUrl(url: string, options: FetchOptions = {}): Promise<CsvReader> {
  const timeout = options.timeoutMs ?? 30_000;
  let response: Awaited<ReturnType<typeof request>>;
  try {
    response = await request(url, { method: "GET", headersTimeout: timeout, bodyTimeout: timeout, dispatcher });
  } catch (cause) {
    throw new BulkrunError("BULKRUN_ERR_URL_UNAVAILABLE", `GET ${url} failed: ${(cause as Error).message}`, { cause });
  }
  if (response.statusCode >= 400) {
    await response.body.dump().catch(() => {});
    const retryable = response.statusCode >= 500 || RETRYABLE_4XX.includes(response.statusCode);
    throw new BulkrunError(retryable ? "BULKRUN_ERR_URL_UNAVAILABLE" : "BULKRUN_ERR_URL_FETCH", `GET ${url} answered HTTP ${response.statusCode}`);
  }
  return openCsv(Readable.from(guardBody(response.body, url), { objectMode: false }));
}

/** The body's bytes; a connection that breaks off mid-body is the URL's fault, not the file's. */
async function* guardBody(body: AsyncIterable<Buffer> & { destroy(): void }, url: string): AsyncGenerator<Buffer> {
  let bytes = 0;
  try {
    for await (const chunk of body) {
      bytes += chunk.length;
      yield chunk;
    }
  } catch (cause) {
    throw new BulkrunError("BULKRUN_ERR_URL_UNAVAILABLE", `GET ${url} broke off after ${bytes} bytes: ${(cause as Error).message}`, { cause });
  } finally {
    body.destroy();
  }
}

/**
 * Inline rows (from SQL or the API) read as a CSV would be: the header is the union of their
 * keys; no rows at all read as an empty file with the plugin's columns.
 */
export function inlineReader(rows: Record<string, unknown>[], columns: readonly string[]): CsvReader {
  const header = rows.length === 0 ? [...columns] : [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cells = rows.map((r) => header.map((h) => (r[h] === null || r[h] === undefined ? "" : String(r[h]))));
  return { header, batches: Readable.from([cells]) };
}
