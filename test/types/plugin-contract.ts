// Checked by `npm run typecheck` (CI): each @ts-expect-error must stay an error, or tsc fails.
import { defineAction } from "../../runner/plugin.ts";

export const typed = defineAction({
  name: "types.example",
  description: "type-level checks of the plugin contract",
  options: {
    mode: { type: "enum", values: ["fast", "safe"], default: "safe", description: "how" },
    limit: { type: "integer", description: "optional, no default" },
  },
  outcomes: { done: "updated", missing: "skipped" },
  csv: { columns: ["email"], required: ["email"], parse: (record) => ({ key: record.email!, data: { email: record.email! } }) },
  async processChunk({ options }) {
    const mode: "fast" | "safe" = options.mode;
    // @ts-expect-error an option without a default may be absent
    const limit: number = options.limit;
    // @ts-expect-error an enum option is one of its values, not any string
    const wrong: "slow" = options.mode;
    void [mode, limit, wrong];
    return [{ row: 1, outcome: "done" }];
  },
});

export const undeclaredOutcome = defineAction({
  name: "types.undeclared",
  description: "a plugin reports only the outcomes it declares",
  options: {},
  outcomes: { done: "updated" },
  // @ts-expect-error "exploded" is not one of its outcomes
  async processChunk() {
    return [{ row: 1, outcome: "exploded" }];
  },
});

export const badOutcomeKind = defineAction({
  name: "types.bad_kind",
  description: "an outcome must count as one of the counters",
  options: {},
  // @ts-expect-error "destroyed" is not a counter (created, updated, deleted, skipped, failed)
  outcomes: { gone: "destroyed" },
  async processChunk() {
    return [];
  },
});

export const badOptionType = defineAction({
  name: "types.bad_option",
  description: "an option's default must have the option's type",
  // @ts-expect-error an integer option with a string default
  options: { size: { type: "integer", default: "big", description: "size" } },
  outcomes: {},
  async processChunk() {
    return [];
  },
});

// @ts-expect-error processChunk and chunkQuery exclude each other
export const bothWays = defineAction({
  name: "types.both",
  description: "a plugin applies its chunks one way",
  options: {},
  outcomes: { done: "updated" },
  async processChunk() {
    return [];
  },
  chunkQuery: () => ({ sql: "outcomes as (select 1)", bindings: [] }),
});

// @ts-expect-error a plugin must say how it applies a chunk
export const noWay = defineAction({
  name: "types.none",
  description: "a plugin applies its chunks one way",
  options: {},
  outcomes: { done: "updated" },
});

export const queryTyped = defineAction({
  name: "types.query",
  description: "a query plugin gets typed options too",
  options: { mode: { type: "enum", values: ["fast", "safe"], default: "safe", description: "how" } },
  outcomes: { done: "updated" },
  chunkQuery: ({ options, staged }) => {
    // @ts-expect-error an enum option is one of its values, not any string
    const wrong: "slow" = options.mode;
    void wrong;
    return { sql: `outcomes as (select row_number, 'done' as outcome, null::text as error, null::bigint as entity_id from ${staged})`, bindings: [] };
  },
});
