import { BulkrunError } from "../errors.ts";
import type { AnyAction, AnyOptions } from "../plugin.ts";
import { closest } from "./did-you-mean.ts";

/** One option of an action type. */
export type OptionSpec =
  | { type: "enum"; values: readonly string[]; default?: string; description: string }
  | { type: "integer"; min?: number; max?: number; default?: number; description: string }
  | { type: "boolean"; default?: boolean; description: string }
  | { type: "string"; default?: string; description: string }
  | { type: "record"; keys: readonly string[]; description: string };

/** The options an action type accepts, by name. */
export type OptionsSchema = Record<string, OptionSpec>;

type ValueOf<S extends OptionSpec> = S extends { type: "enum"; values: readonly (infer V)[] }
  ? V
  : S extends { type: "integer" }
    ? number
    : S extends { type: "boolean" }
      ? boolean
      : S extends { type: "record"; keys: readonly (infer K extends string)[] }
        ? Partial<Record<K, string | null>>
        : string;

/**
 * The validated options object a plugin receives; options without a default may be absent.
 * (`any` stays `any`, so the engine can hold every action type in one map.)
 */
export type InferOptions<Schema extends OptionsSchema> = 0 extends 1 & Schema ? any : KnownOptions<Schema>;

type KnownOptions<Schema extends OptionsSchema> = {
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
    const value = given[name] ?? ("default" in spec ? spec.default : undefined);
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
    case "record":
      return checkRecord(name, spec.keys, value);
  }
}

function checkRecord(name: string, keys: readonly string[], value: unknown): string | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return `option \`${name}\` must be an object such as {"${keys[0]}": "..."}`;
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return `option \`${name}\` is empty; give at least one of ${keys.map((k) => `\`${k}\``).join(", ")}`;
  for (const [key, item] of entries) {
    if (!keys.includes(key)) {
      const guess = closest(key, keys);
      return `option \`${name}\` cannot set \`${key}\`${guess ? `, did you mean \`${guess}\`?` : ""} (allowed: ${keys.map((k) => `\`${k}\``).join(", ")})`;
    }
    if (item !== null && typeof item !== "string") return `option \`${name}.${key}\` must be a string or null`;
  }
  return undefined;
}

/** An action's options, checked against its plugin's schema and the plugin's own checks. */
export function actionOptions(plugin: AnyAction, input: unknown): AnyOptions {
  const options = validateOptions(plugin.name, plugin.options, input);
  plugin.check?.(options);
  return options;
}
