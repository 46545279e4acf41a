import { BulkrunError } from "../errors.ts";
import { closest } from "./did-you-mean.ts";

/** One option of an action type. */
export type OptionSpec =
  | { type: "enum"; values: readonly string[]; default?: string; description: string }
  | { type: "integer"; min?: number; max?: number; default?: number; description: string }
  | { type: "boolean"; default?: boolean; description: string }
  | { type: "string"; default?: string; description: string };

/** The options an action type accepts, by name. */
export type OptionsSchema = Record<string, OptionSpec>;

type ValueOf<S extends OptionSpec> = S extends { type: "enum"; values: readonly (infer V)[] }
  ? V
  : S extends { type: "integer" }
    ? number
    : S extends { type: "boolean" }
      ? boolean
      : string;

/** The validated options object a plugin receives; options without a default may be absent. */
export type InferOptions<Schema extends OptionsSchema> = {
  [K in keyof Schema as Schema[K] extends { default: unknown } ? K : never]: ValueOf<Schema[K]>;
} & {
  [K in keyof Schema as Schema[K] extends { default: unknown } ? never : K]?: ValueOf<Schema[K]>;
};

/**
 * Checks `input` against `schema` and fills in defaults. Every problem is reported at once, each
 * with a fix: "unknown option `on_conflit`, did you mean `on_conflict`?".
 */
export function validateOptions<Schema extends OptionsSchema>(
  actionType: string,
  schema: Schema,
  input: unknown,
): InferOptions<Schema> {
  if (input === null || input === undefined) input = {};
  if (typeof input !== "object" || Array.isArray(input)) {
    throw new BulkrunError("BULKRUN_ERR_OPTIONS", `options of ${actionType} must be a JSON object`);
  }
  const given = input as Record<string, unknown>;
  const problems: string[] = [];
  const result: Record<string, unknown> = {};
  for (const name of Object.keys(given)) {
    if (!(name in schema)) {
      const guess = closest(name, Object.keys(schema));
      const allowed = Object.keys(schema).map((n) => `\`${n}\``).join(", ") || "none";
      problems.push(
        guess
          ? `unknown option \`${name}\`, did you mean \`${guess}\`?`
          : `unknown option \`${name}\` (allowed: ${allowed})`,
      );
    }
  }
  for (const [name, spec] of Object.entries(schema)) {
    const value = given[name] ?? spec.default;
    if (value === undefined) continue;
    const problem = checkValue(name, spec, value);
    if (problem) problems.push(problem);
    else result[name] = value;
  }
  if (problems.length > 0) {
    throw new BulkrunError("BULKRUN_ERR_OPTIONS", `${actionType}: ${problems.join("; ")}`);
  }
  return result as InferOptions<Schema>;
}

function checkValue(name: string, spec: OptionSpec, value: unknown): string | undefined {
  switch (spec.type) {
    case "enum":
      if (typeof value === "string" && spec.values.includes(value)) return undefined;
      return `option \`${name}\` must be one of ${spec.values.map((v) => `\`${v}\``).join(", ")}${
        typeof value === "string" && closest(value, spec.values) ? `; did you mean \`${closest(value, spec.values)}\`?` : ""
      } (got ${JSON.stringify(value)})`;
    case "integer":
      if (!Number.isInteger(value)) return `option \`${name}\` must be a whole number (got ${JSON.stringify(value)})`;
      if (spec.min !== undefined && (value as number) < spec.min) return `option \`${name}\` must be at least ${spec.min}`;
      if (spec.max !== undefined && (value as number) > spec.max) return `option \`${name}\` must be at most ${spec.max}`;
      return undefined;
    case "boolean":
      return typeof value === "boolean" ? undefined : `option \`${name}\` must be true or false`;
    case "string":
      return typeof value === "string" ? undefined : `option \`${name}\` must be a string`;
  }
}
