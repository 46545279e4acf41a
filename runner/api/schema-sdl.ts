import { postgraphile } from "postgraphile";
import { PgSubscriber } from "postgraphile/adaptors/pg";
import { lexicographicSortSchema, printSchema } from "postgraphile/graphql";
import type { EngineContext } from "../engine/context.ts";
import { apiPreset } from "./preset.ts";

/**
 * The API's schema as sorted SDL, the form committed as `schema.graphql` (`npm run schema`
 * writes it; a test fails when the two differ).
 */
export async function schemaSdl(ctx: EngineContext): Promise<string> {
  const listener = new PgSubscriber(ctx.db.pool);
  const pgl = postgraphile(apiPreset({ config: ctx.config, pool: ctx.db.pool, listener, principal: async () => null }));
  try {
    return `${printSchema(lexicographicSortSchema(await pgl.getSchema()))}\n`;
  } finally {
    await pgl.release();
    listener.release();
  }
}
