import { defaultMaskError } from "postgraphile/grafserv";
import { GraphQLError } from "postgraphile/graphql";
import { translateTransitionError } from "../engine/actions.ts";
import { BulkrunError, isBulkrunError } from "../errors.ts";

/** Postgres errors a client can act on, in the words the CLI uses. */
function translate(cause: unknown): unknown {
  const pg = cause as { code?: string; message?: string; column?: string; constraint?: string };
  // An update or delete that row-level security left nothing to touch.
  const missing = /^No values were (?:updated|deleted) in collection '(\w+)'/.exec(pg?.message ?? "");
  if (missing) {
    return missing[1] === "schedules"
      ? new BulkrunError("BULKRUN_ERR_UNKNOWN_SCHEDULE", "there is no such schedule for this token; `allSchedules` lists them", { cause })
      : new GraphQLError(`no such row in ${missing[1]} for this token`);
  }
  if (typeof pg?.code !== "string") return cause;
  if (pg.code === "BR404" || pg.code === "BR409" || pg.code === "BR410") return translateTransitionError(cause);
  if (pg.code === "42501") {
    return new BulkrunError(
      "BULKRUN_ERR_UNAUTHORIZED",
      "this token may not do that: an account token reads and writes its own account's rows only, and follow-ups (source kind `copy`) start through retryAction or applyDryRun",
      { cause },
    );
  }
  if (pg.code === "23502" && pg.column === "account_id") {
    return new BulkrunError("BULKRUN_ERR_UNAUTHORIZED", "give `accountId`: an admin token acts for any account (a request without a token for none)", { cause });
  }
  if (pg.code === "23503" && pg.constraint?.endsWith("account_id_fkey")) {
    return new BulkrunError("BULKRUN_ERR_UNKNOWN_ACCOUNT", "there is no account with that `accountId`", { cause });
  }
  if (pg.code.startsWith("22") || pg.code === "23514") return new GraphQLError(pg.message ?? String(cause));
  return cause;
}

/**
 * Errors a client caused carry their message and `extensions.code` (the same code and message the
 * CLI prints); anything else is masked and logged with an id, as grafserv does by default.
 */
export function maskError(error: GraphQLError): GraphQLError {
  const cause = translate(error.originalError);
  if (isBulkrunError(cause) || cause instanceof GraphQLError) {
    return new GraphQLError(cause.message, {
      nodes: error.nodes,
      source: error.source,
      positions: error.positions,
      path: error.path,
      originalError: cause,
      extensions: isBulkrunError(cause) ? { code: cause.code } : cause.extensions,
    });
  }
  return defaultMaskError(error);
}
