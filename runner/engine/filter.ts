import type { Knex } from "knex";
import { arrayParam } from "../db/array-param.ts";
import { BulkrunError } from "../errors.ts";
import { closest } from "./did-you-mean.ts";

/** What a filterable field holds, which decides its operators and the type of their values. */
export type FieldType = "text" | "timestamp" | "id";

/** A field a filter may name, and the column it reads. */
export interface FilterField {
  /** The column (optionally table-qualified, `u.email`); written into SQL as a quoted identifier. */
  column: string;
  type: FieldType;
}

/**
 * The fields a plugin lets filters use, by the name a filter gives them, e.g.
 * `{ email: { column: "email", type: "text" }, createdAt: { column: "created_at", type: "timestamp" } }`.
 * `and`, `or` and `not` cannot be field names.
 */
export type FilterFields = Readonly<Record<string, FilterField>>;

/** Conditions on a text field; all given must hold. Comparisons ignore case. */
export interface TextCondition {
  eq?: string;
  /** Also matches rows where the field is empty (null). */
  neq?: string;
  in?: string[];
  contains?: string;
  startsWith?: string;
  endsWith?: string;
  isNull?: boolean;
}

/** Conditions on a timestamp field; values are ISO 8601 with a time zone. */
export interface TimestampCondition {
  eq?: string;
  gt?: string;
  gte?: string;
  lt?: string;
  lte?: string;
  isNull?: boolean;
}

/** Conditions on an id field. */
export interface IdCondition {
  eq?: number;
  in?: number[];
  gt?: number;
  lt?: number;
}

/** The conditions on one field. */
export type Condition = TextCondition | TimestampCondition | IdCondition;

/**
 * A filter as JSON: every `field: { operator: value }` entry must hold, as must every filter in
 * `and`; at least one in `or`; and `not` selects exactly the rows its filter does not.
 */
export interface Filter {
  and?: Filter[];
  or?: Filter[];
  not?: Filter;
  [field: string]: Condition | Filter | Filter[] | undefined;
}

const OPERATORS = {
  text: ["eq", "neq", "in", "contains", "startsWith", "endsWith", "isNull"],
  timestamp: ["eq", "gt", "gte", "lt", "lte", "isNull"],
  id: ["eq", "in", "gt", "lt"],
} as const satisfies Record<FieldType, readonly string[]>;

const COMPARISONS = { eq: "=", gt: ">", gte: ">=", lt: "<", lte: "<=" } as const;
const COMBINATORS = ["and", "or", "not"];
const MAX_PROBLEMS = 10;
const MAX_DEPTH = 10;
const MAX_CONDITIONS = 1000;
const MAX_IN_VALUES = 10_000;

const ISO_TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:[Zz]|[+-](\d{2})(?::?(\d{2}))?)$/;

/**
 * Checks untrusted JSON (a string or a parsed value) against `fields` and returns the filter.
 * Every problem is reported at once, each saying where it is and what is allowed instead.
 * @throws BulkrunError BULKRUN_ERR_FILTER
 */
export function parseFilter(input: unknown, fields: FilterFields): Filter {
  if (typeof input === "string") {
    try {
      input = JSON.parse(input);
    } catch (cause) {
      throw new BulkrunError("BULKRUN_ERR_FILTER", `invalid filter: not valid JSON (${(cause as Error).message})`, { cause });
    }
  }
  const parser = new Parser(fields);
  const filter = parser.filter(input, "", 1);
  const { problems } = parser;
  if (problems.length > 0) {
    const more = problems.length > MAX_PROBLEMS ? ` (and ${problems.length - MAX_PROBLEMS} more problems)` : "";
    throw new BulkrunError("BULKRUN_ERR_FILTER", `invalid filter: ${problems.slice(0, MAX_PROBLEMS).join("; ")}${more}`);
  }
  return filter;
}

/**
 * Adds the filter to `query` as one parenthesised, parameterised WHERE condition: values are
 * bindings, and identifiers come only from `fields`. The filter is checked again first, so one
 * built in code gets the same checks as one from JSON.
 * @throws BulkrunError BULKRUN_ERR_FILTER
 */
export function applyFilter<Q extends Knex.QueryBuilder<any, any>>(query: Q, filter: Filter, fields: FilterFields): Q {
  const bindings: Knex.RawBinding[] = [];
  const sql = filterSql(parseFilter(filter, fields), fields, bindings);
  return query.whereRaw(`(${sql})`, bindings) as Q;
}

class Parser {
  readonly problems: string[] = [];
  private conditions = 0;

  constructor(private readonly fields: FilterFields) {}

  filter(input: unknown, at: string, depth: number): Filter {
    const result: Filter = {};
    if (depth > MAX_DEPTH) {
      this.problem(at, `the filter is nested more than ${MAX_DEPTH} levels deep`);
      return result;
    }
    if (!isObject(input)) {
      this.problem(at, `a filter must be a JSON object such as {"email": {"endsWith": "@example.com"}} (got ${show(input)})`);
      return result;
    }
    const entries = Object.entries(input);
    if (entries.length === 0) {
      this.problem(at, `the filter is empty${at ? "" : ", which would select every row"}: give at least one condition`);
    }
    for (const [key, value] of entries) {
      const here = at ? `${at}.${key}` : key;
      if (key === "and" || key === "or") {
        if (!Array.isArray(value) || value.length === 0) {
          this.problem(at, `\`${key}\` must be a non-empty array of filters (got ${show(value)})`);
        } else {
          result[key] = value.map((item, i) => this.filter(item, `${here}[${i}]`, depth + 1));
        }
      } else if (key === "not") {
        result.not = this.filter(value, here, depth + 1);
      } else if (Object.hasOwn(this.fields, key)) {
        result[key] = this.condition(key, this.fields[key]!.type, value, at);
      } else {
        const names = Object.keys(this.fields);
        const guess = closest(clip(key), [...names, ...COMBINATORS]);
        this.problem(
          at,
          `unknown field \`${clip(key)}\`${guess ? `, did you mean \`${guess}\`?` : ""} (fields: ${list(names)}; combine filters with ${list(COMBINATORS)})`,
        );
      }
    }
    return result;
  }

  private condition(field: string, type: FieldType, input: unknown, at: string): Condition {
    const result: Record<string, unknown> = {};
    if (!isObject(input) || Object.keys(input).length === 0) {
      this.problem(at, `\`${field}\` must be an object of operators such as {"eq": …} (got ${show(input)})`);
      return result;
    }
    const allowed: readonly string[] = OPERATORS[type];
    for (const [operator, value] of Object.entries(input)) {
      if (!allowed.includes(operator)) {
        const guess = closest(clip(operator), allowed);
        this.problem(
          at,
          `unknown operator \`${clip(operator)}\` for ${type} field \`${field}\`${guess ? `, did you mean \`${guess}\`?` : ""} (allowed: ${list(allowed)})`,
        );
        continue;
      }
      if (++this.conditions === MAX_CONDITIONS + 1) {
        this.problem("", `the filter has more than ${MAX_CONDITIONS} conditions; use \`in\` for lists of values`);
      }
      const problem = checkValue(`${field}.${operator}`, type, operator, value);
      if (problem) this.problem(at, problem);
      else result[operator] = value;
    }
    return result;
  }

  private problem(at: string, message: string): void {
    this.problems.push(at ? `in \`${at}\`: ${message}` : message);
  }
}

/** Why `value` does not suit `operator` on a field of `type`, if it does not; `name` is where it is. */
function checkValue(name: string, type: FieldType, operator: string, value: unknown): string | undefined {
  if (operator === "isNull") return typeof value === "boolean" ? undefined : `\`${name}\` must be true or false (got ${show(value)})`;
  if (operator === "in") {
    if (!Array.isArray(value) || value.length === 0) return `\`${name}\` must be a non-empty array (got ${show(value)})`;
    if (value.length > MAX_IN_VALUES) return `\`${name}\` has ${value.length} values, more than the ${MAX_IN_VALUES} allowed`;
    const bad = value.findIndex((item) => checkScalar(type, item) !== undefined);
    return bad === -1 ? undefined : `\`${name}[${bad}]\` ${checkScalar(type, value[bad])}`;
  }
  if ((operator === "contains" || operator === "startsWith" || operator === "endsWith") && value === "") {
    return `\`${name}\` must not be empty: it would match every row`;
  }
  const problem = checkScalar(type, value);
  return problem && `\`${name}\` ${problem}`;
}

function checkScalar(type: FieldType, value: unknown): string | undefined {
  const got = `got ${show(value)}${value === null ? ": `isNull` matches empty fields" : ""}`;
  switch (type) {
    case "text":
      return typeof value === "string" ? undefined : `must be a string (${got})`;
    case "id":
      return Number.isSafeInteger(value) ? undefined : `must be a whole number (${got})`;
    case "timestamp":
      return typeof value === "string" && isTimestamp(value)
        ? undefined
        : `must be an ISO 8601 timestamp with a time zone, such as "2024-05-01T09:30:00Z" or "2024-05-01T11:30:00+02:00" (${got})`;
  }
}

/** A real date and time of years 1 to 9999 with an explicit zone, as Postgres reads it too. */
function isTimestamp(value: string): boolean {
  const m = ISO_TIMESTAMP.exec(value);
  if (!m) return false;
  const [year, month, day, hour, minute, second, zoneHour, zoneMinute] = m.slice(1).map((part) => Number(part ?? 0)) as [
    number, number, number, number, number, number, number, number,
  ];
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  return (
    year >= 1 && days !== undefined && day >= 1 && day <= days &&
    hour <= 23 && minute <= 59 && second <= 59 && zoneHour <= 15 && zoneMinute <= 59
  );
}

/** The SQL of a checked filter, pushing its values onto `bindings`. */
function filterSql(filter: Filter, fields: FilterFields, bindings: Knex.RawBinding[]): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(filter)) {
    if (key === "and" || key === "or") {
      const items = (value as Filter[]).map((item) => `(${filterSql(item, fields, bindings)})`);
      parts.push(`(${items.join(` ${key} `)})`);
    } else if (key === "not") {
      // A row the inner filter cannot decide (null column) is not selected by it, so `not` selects it.
      parts.push(`not coalesce((${filterSql(value as Filter, fields, bindings)}), false)`);
    } else {
      const { column, type } = fields[key]!;
      for (const [operator, operand] of Object.entries(value as Condition)) {
        parts.push(conditionSql(column, type, operator, operand, bindings));
      }
    }
  }
  return parts.join(" and ");
}

function conditionSql(column: string, type: FieldType, operator: string, value: unknown, bindings: Knex.RawBinding[]): string {
  if (operator === "isNull") {
    bindings.push(column);
    return value ? "?? is null" : "?? is not null";
  }
  if (type === "text") {
    // Text compares as lower() on both sides: emails are case-insensitive, and
    // lower(email) = lower(?) can use the unique index on (account_id, lower(email)).
    switch (operator) {
      case "eq":
        bindings.push(column, value as string);
        return "lower(??) = lower(?)";
      case "neq":
        bindings.push(column, value as string);
        return "lower(??) is distinct from lower(?)";
      case "in":
        bindings.push(column, arrayParam(value as string[]));
        return "lower(??) in (select lower(v) from unnest(?::text[]) v)";
      default: {
        const literal = (value as string).replace(/[\\%_]/g, "\\$&");
        const pattern = operator === "contains" ? `%${literal}%` : operator === "startsWith" ? `${literal}%` : `%${literal}`;
        bindings.push(column, pattern);
        // Backslash is Postgres's default LIKE escape character.
        return "lower(??) like lower(?)";
      }
    }
  }
  const cast = type === "timestamp" ? "::timestamptz" : "::bigint";
  if (operator === "in") {
    bindings.push(column, arrayParam(value as number[]));
    return `?? = any(?${cast}[])`;
  }
  bindings.push(column, value as string | number);
  return `?? ${COMPARISONS[operator as keyof typeof COMPARISONS]} ?${cast}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function list(names: readonly string[]): string {
  return names.map((name) => `\`${name}\``).join(", ");
}

/** Input echoed in a message (or compared for "did you mean"), cut short so a huge value cannot flood it. */
function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

function show(value: unknown): string {
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return value.length === 0 ? "an empty array" : "an array";
  if (isObject(value)) return Object.keys(value).length === 0 ? "an empty object" : "an object";
  return clip(JSON.stringify(value));
}
