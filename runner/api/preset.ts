import type pg from "pg";
import { TYPES } from "postgraphile/@dataplan/pg";
import { makePgService, type PgSubscriber } from "postgraphile/adaptors/pg";
import type { GrafastSubscriber } from "postgraphile/grafast";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { addPgTableCondition } from "postgraphile/utils";
import type { ResolvedConfig } from "../config.ts";
import { actionChanges, ActionChangesPlugin } from "./action-changes.ts";
import { pgSettingsFor, type RequestPrincipal } from "./auth.ts";
import { inputChecksPlugin } from "./input-checks.ts";
import { maskError } from "./mask-error.ts";

/** What the API's preset is made from. */
export interface ApiPresetOptions {
  config: ResolvedConfig;
  /** The pool requests run on (its owner ends it): not the engine's, so requests never wait for workers. */
  pool: pg.Pool;
  /** The LISTEN connection subscriptions share. */
  listener: PgSubscriber | GrafastSubscriber<Record<string, string>>;
  /** Who a request (HTTP or websocket) speaks for; throws for a bad token. */
  principal(requestContext: Partial<Grafast.RequestContext>): Promise<RequestPrincipal>;
}

/** `createdAfter` / `createdBefore` on bulk actions: a time range PostGraphile's equality conditions cannot say. */
const createdRange = (field: string, operator: ">=" | "<") =>
  addPgTableCondition(
    { schemaName: "bulkrun", tableName: "bulk_actions" },
    field,
    (build) => ({
      description: `Only actions created ${operator === ">=" ? "at or after" : "before"} this time.`,
      type: build.getTypeByName("Datetime") as import("postgraphile/graphql").GraphQLInputType,
    }),
    (value, { sql, sqlTableAlias, sqlValueWithCodec }) =>
      sql`${sqlTableAlias}.created_at ${sql.raw(operator)} ${sqlValueWithCodec(value, TYPES.timestamptz)}`,
  );

/**
 * PostGraphile's Amber preset over the `bulkrun` schema only. Requests run as `bulkrun_account`
 * (their token's account) or `bulkrun_admin`, and row-level security decides what they see; the
 * schema is introspected as `bulkrun_account`, so it holds exactly what an account may use.
 */
export function apiPreset(options: ApiPresetOptions): GraphileConfig.Preset {
  const { config } = options;
  return {
    extends: [PostGraphileAmberPreset],
    plugins: [ActionChangesPlugin, inputChecksPlugin(config), createdRange("createdAfter", ">="), createdRange("createdBefore", "<")],
    pgServices: [
      makePgService({
        pool: options.pool,
        schemas: ["bulkrun"],
        pgSettingsForIntrospection: { role: "bulkrun_account" },
      }),
    ],
    grafast: {
      async context(requestContext) {
        const principal = await options.principal(requestContext);
        return {
          pgSettings: pgSettingsFor(principal, { rateLimitWindowMs: config.rateLimitWindowMs, deadAfterMs: config.worker.deadAfterMs }),
          bulkrunActionChanges: actionChanges(options.listener as GrafastSubscriber<Record<string, string>>, principal),
        };
      },
    },
    grafserv: {
      port: config.api.port,
      host: config.api.host,
      graphqlPath: "/graphql",
      graphiql: true,
      graphiqlPath: "/graphiql",
      websockets: true,
      maskError,
    },
  };
}
