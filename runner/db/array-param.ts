import type { Knex } from "knex";

/**
 * A JS array sent as one Postgres array parameter (for `unnest(?::text[])`). knex's types do not
 * admit nulls inside arrays; pg sends them as SQL nulls.
 */
export function arrayParam(values: readonly unknown[]): Knex.Value {
  return values as Knex.Value;
}
