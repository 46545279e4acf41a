import type { ServerResponse } from "node:http";
import { BulkrunError, isBulkrunError, type ErrorCode } from "../errors.ts";

/** A bulkrun error with the HTTP status it is answered with. */
export class HttpError extends BulkrunError {
  readonly status: number;

  constructor(status: number, code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.status = status;
  }
}

/** Problems with the file itself: the request was well-formed, its content was not usable. */
const UNPROCESSABLE: readonly ErrorCode[] = ["BULKRUN_ERR_NOT_CSV", "BULKRUN_ERR_CSV_EMPTY", "BULKRUN_ERR_CSV_HEADER"];

function statusOf(error: unknown): number {
  if (error instanceof HttpError) return error.status;
  if (!isBulkrunError(error)) return 500;
  if (error.code === "BULKRUN_ERR_UNAUTHORIZED") return 401;
  if (UNPROCESSABLE.includes(error.code)) return 422;
  if (error.code === "BULKRUN_ERR_DB_UNREACHABLE") return 503;
  return 400;
}

/** Answers with JSON. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const payload = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(payload), ...headers });
  res.end(payload);
}

/**
 * Answers `{"error": {"code", "message"}}` with the status that fits; an unexpected error is
 * logged and answered 500 without its details.
 */
export function sendError(res: ServerResponse, error: unknown, log: (line: string) => void): void {
  const status = statusOf(error);
  if (status === 500) log(`API request failed: ${(error as Error).stack ?? String(error)}`);
  const body = isBulkrunError(error) ? { code: error.code, message: error.message } : { code: "INTERNAL", message: "the request failed unexpectedly; the runner's log says why" };
  // A body left unread (a refused upload) would otherwise be read to its end.
  sendJson(res, status, { error: body }, status === 413 || status === 415 ? { connection: "close" } : {});
}
