import type { IncomingMessage } from "node:http";
import { pipeline, Transform } from "node:stream";
import { resolveAccount } from "../engine/accounts.ts";
import type { EngineContext } from "../engine/context.ts";
import type { Principal } from "../engine/tokens.ts";
import { submitFile, type ActionRequest } from "../engine/submit.ts";
import { BulkrunError } from "../errors.ts";
import { HttpError } from "./http-error.ts";

const CSV_TYPES = ["text/csv", "application/csv", "text/plain"];
/** Query parameters that are not the action type's options. */
const RESERVED = new Set(["type", "account", "options", "chunkSize", "dryRun", "priority", "runAt", "webhookUrl", "fileName"]);

/** The new action, as `POST /upload` answers. */
export interface UploadResult {
  id: number;
  accountId: number;
  type: string;
  status: string;
  warnings: string[];
}

/**
 * `POST /upload?type=users.import&onConflict=skip`: creates an action with its rows in one
 * request. The body is streamed into the ledger by COPY, in the transaction that inserts the
 * action (never held whole); a body that breaks off or grows past `api.maxUploadBytes` rolls the
 * transaction back, so no half-staged action is ever left to run.
 */
export async function upload(ctx: EngineContext, principal: Principal, req: IncomingMessage): Promise<UploadResult> {
  const contentType = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (!CSV_TYPES.includes(contentType)) {
    throw new HttpError(415, "BULKRUN_ERR_UPLOAD", `send the file as \`Content-Type: text/csv\` (got \`${contentType || "none"}\`)`);
  }
  const max = ctx.config.api.maxUploadBytes;
  const tooLarge = () => new HttpError(413, "BULKRUN_ERR_UPLOAD", `the file is larger than ${max} bytes (api.maxUploadBytes); split it, or import it from a URL`);
  if (Number(req.headers["content-length"] ?? 0) > max) throw tooLarge();
  const url = new URL(req.url ?? "/", "http://localhost");
  const request = await actionRequest(ctx, principal, url.searchParams);
  let bytes = 0;
  const limited = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      callback(bytes > max ? tooLarge() : null, chunk);
    },
  });
  // A client that goes away mid-body destroys `limited` with the error, which fails the COPY and
  // rolls back the action with its rows; the reader of `limited` is the one to report it.
  pipeline(req, limited, () => {});
  const action = await submitFile(ctx, request, limited, url.searchParams.get("fileName") ?? "upload.csv");
  return { id: action.id, accountId: action.account_id, type: action.type, status: action.status, warnings: action.warnings };
}

async function actionRequest(ctx: EngineContext, principal: Principal, params: URLSearchParams): Promise<ActionRequest> {
  const type = params.get("type");
  if (!type) throw new HttpError(400, "BULKRUN_ERR_UPLOAD", "give the action type: `/upload?type=users.import`");
  return {
    accountId: await accountOf(ctx, principal, params.get("account")),
    type,
    options: optionsOf(params),
    chunkSize: integer(params, "chunkSize", 1, 100_000),
    dryRun: params.has("dryRun") ? params.get("dryRun") !== "false" : undefined,
    priority: integer(params, "priority", -100, 100),
    runAt: params.has("runAt") ? date(params.get("runAt")!) : undefined,
    webhookUrl: params.get("webhookUrl") ?? undefined,
  };
}

async function accountOf(ctx: EngineContext, principal: Principal, ref: string | null): Promise<number> {
  if (principal.kind === "admin") {
    if (!ref) throw new HttpError(400, "BULKRUN_ERR_UPLOAD", "an admin token must say which account: `&account=<name or id>`");
    return (await resolveAccount(ctx.db.knex, ref)).id;
  }
  if (ref && (await resolveAccount(ctx.db.knex, ref).catch(() => undefined))?.id !== principal.accountId) {
    throw new HttpError(403, "BULKRUN_ERR_UNAUTHORIZED", "this token uploads for its own account only; leave out `account`");
  }
  return principal.accountId;
}

/** `options={"on_conflict":"skip"}`, or each option as a parameter (`on_conflict=skip` or `onConflict=skip`). */
function optionsOf(params: URLSearchParams): Record<string, unknown> {
  let options: Record<string, unknown> = {};
  const json = params.get("options");
  if (json !== null) {
    try {
      options = JSON.parse(json) as Record<string, unknown>;
    } catch (cause) {
      throw new BulkrunError("BULKRUN_ERR_OPTIONS", `\`options\` is not valid JSON: ${(cause as Error).message}`, { cause });
    }
  }
  for (const [name, value] of params) {
    if (RESERVED.has(name)) continue;
    options[name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = /^(true|false)$/.test(value) ? value === "true" : /^-?\d+$/.test(value) ? Number(value) : value;
  }
  return options;
}

function integer(params: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const value = params.get(name);
  if (value === null) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new HttpError(400, "BULKRUN_ERR_UPLOAD", `\`${name}\` must be a whole number from ${min} to ${max} (got \`${value}\`)`);
  }
  return n;
}

function date(value: string): Date {
  const at = new Date(value);
  if (Number.isNaN(at.getTime())) throw new HttpError(400, "BULKRUN_ERR_UPLOAD", `\`runAt\` must be an ISO 8601 time such as 2030-01-01T09:00:00Z (got \`${value}\`)`);
  return at;
}
