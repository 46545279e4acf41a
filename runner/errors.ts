/**
 * Every error bulkrun raises on purpose carries one of these stable codes.
 * Each is documented in the README ("Error codes") with what to do about it.
 */
export const ErrorCodes = {
  BULKRUN_ERR_CONFIG: "the configuration is invalid",
  BULKRUN_ERR_DB_UNREACHABLE: "the database cannot be reached",
  BULKRUN_ERR_MIGRATION: "a migration failed",
  BULKRUN_ERR_USAGE: "the command line is invalid",
  BULKRUN_ERR_OPTIONS: "an action option is invalid",
  BULKRUN_ERR_FILTER: "the filter selecting rows is invalid",
  BULKRUN_ERR_UNKNOWN_ACTION_TYPE: "no plugin handles this action type",
  BULKRUN_ERR_UNKNOWN_ACCOUNT: "the account does not exist",
  BULKRUN_ERR_ACCOUNT_EXISTS: "an account with this name exists already",
  BULKRUN_ERR_UNKNOWN_ACTION: "the bulk action does not exist",
  BULKRUN_ERR_FILE_NOT_FOUND: "the input file does not exist",
  BULKRUN_ERR_NOT_CSV: "the input is not a CSV file",
  BULKRUN_ERR_CSV_EMPTY: "the CSV file has no header row",
  BULKRUN_ERR_CSV_HEADER: "the CSV header lacks a required column",
  BULKRUN_ERR_SOURCE: "the action's source is missing or invalid",
  BULKRUN_ERR_URL_FETCH: "the source URL answered with a client error (4xx)",
  BULKRUN_ERR_URL_UNAVAILABLE: "the source URL did not answer or answered 5xx, on every attempt",
  BULKRUN_ERR_CHUNK_FAILED: "a chunk failed on every attempt",
  BULKRUN_ERR_PREPARE_FAILED: "the action could not be prepared on any attempt",
  BULKRUN_ERR_ACTION_FAILED: "the bulk action ended in status failed",
  BULKRUN_ERR_INVALID_TRANSITION: "the action cannot move to the requested status",
  BULKRUN_ERR_LEDGER_PRUNED: "the action's ledger was removed by ledger retention",
  BULKRUN_ERR_SCHEDULE: "the schedule's cron expression or time zone is invalid",
  BULKRUN_ERR_UNKNOWN_SCHEDULE: "the schedule does not exist",
  BULKRUN_ERR_WORKER_STOPPED: "the runner's worker pool stopped by itself",
  BULKRUN_ERR_UNKNOWN_TOKEN: "the API token does not exist",
  BULKRUN_ERR_UNAUTHORIZED: "the API request has no valid token, or its token may not do this",
  BULKRUN_ERR_UPLOAD: "the uploaded file was refused (size, content type or parameters)",
  BULKRUN_ERR_API_UNREACHABLE: "the dashboard cannot reach the API",
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

/** The one error type of bulkrun: a stable code, a message a person can act on, and its cause. */
export class BulkrunError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "BulkrunError";
    this.code = code;
  }
}

export function isBulkrunError(error: unknown, code?: ErrorCode): error is BulkrunError {
  return error instanceof BulkrunError && (code === undefined || error.code === code);
}
