import type { IncomingHttpHeaders } from "node:http";
import type { Knex } from "knex";
import { authenticate, type Principal } from "../engine/tokens.ts";
import { BulkrunError } from "../errors.ts";

/** Who a request speaks for; null for a request without a token, which sees nothing. */
export type RequestPrincipal = Principal | null;

/**
 * The principal of a request's `Authorization: Bearer <token>` header (or the `authorization`
 * connection parameter of a websocket). A token that is malformed, unknown or revoked is refused.
 */
export async function principalOf(db: Knex, authorization: string | string[] | undefined): Promise<RequestPrincipal> {
  if (authorization === undefined || authorization === "") return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(Array.isArray(authorization) ? (authorization[0] ?? "") : authorization);
  const principal = match ? await authenticate(db, match[1]!) : undefined;
  if (!principal) {
    throw new BulkrunError(
      "BULKRUN_ERR_UNAUTHORIZED",
      match
        ? "the API token is unknown or revoked; create one with `bulkrun tokens create --account <account>`"
        : "the Authorization header must be `Bearer <token>`",
    );
  }
  return principal;
}

/** The authorization a websocket client sent: in its connection parameters, else on the upgrade request. */
export function websocketAuthorization(params: IncomingHttpHeaders | undefined, upgrade: IncomingHttpHeaders | undefined): string | string[] | undefined {
  return params?.authorization ?? upgrade?.authorization;
}

/** The runner's settings that the API's SQL functions read: the rate-limit window, and when a silent runner is dead. */
export interface RequestTimings {
  rateLimitWindowMs: number;
  deadAfterMs: number;
}

/**
 * What a request's queries run as: the role, and the account that row-level security lets it
 * see. A request without a token runs as an account role with no account: it sees no rows.
 */
export function pgSettingsFor(principal: RequestPrincipal, timings: RequestTimings): Record<string, string> {
  const window = {
    "bulkrun.rate_window_seconds": String(timings.rateLimitWindowMs / 1000),
    "bulkrun.dead_after_seconds": String(timings.deadAfterMs / 1000),
  };
  if (principal?.kind === "admin") return { role: "bulkrun_admin", ...window };
  if (principal?.kind === "account") return { role: "bulkrun_account", "bulkrun.account_id": String(principal.accountId), ...window };
  return { role: "bulkrun_account", ...window };
}

/** Whether an action change belongs to what this principal may see. */
export function mayWatch(principal: RequestPrincipal, accountId: number): boolean {
  return principal?.kind === "admin" || (principal?.kind === "account" && principal.accountId === accountId);
}
