import { parseArgs, type ParseArgsConfig } from "node:util";
import { DURATION_EXAMPLES, parseDuration } from "../duration.ts";
import { closest } from "../engine/did-you-mean.ts";
import { BulkrunError } from "../errors.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Parses a subcommand's flags; an unknown flag is a usage error with a "did you mean". */
export function parseFlags<O extends Options>(argv: string[], options: O, usage: string) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (cause) {
    const flag = /'(--?[\w-]+)'/.exec((cause as Error).message)?.[1];
    const guess = flag ? closest(flag.replace(/^-+/, ""), Object.keys(options)) : undefined;
    const hint = guess ? `; did you mean --${guess}?` : "";
    // Node's own wording runs on with advice about positionals; its first sentence is the point.
    const problem = (cause as Error).message.split(/\.\s|\n/)[0];
    throw new BulkrunError("BULKRUN_ERR_USAGE", `${problem}${hint} (usage: ${usage})`, { cause });
  }
}

/** A flag that must be a whole number in a range. */
export function intFlag(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new BulkrunError("BULKRUN_ERR_USAGE", `--${name} must be a whole number from ${min} to ${max} (got \`${value}\`)`);
  }
  return n;
}

/** A flag that must be a duration, a whole number and a unit (s, m, h, d, w); in milliseconds. */
export function durationFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseDuration(value);
  if (ms === undefined) {
    throw new BulkrunError("BULKRUN_ERR_USAGE", `--${name} must be a duration such as ${DURATION_EXAMPLES}: a whole number and s, m, h, d or w (got \`${value}\`)`);
  }
  return ms;
}

/** A flag that must be one of a few words. */
export function choiceFlag<T extends string>(name: string, value: string | undefined, choices: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if ((choices as readonly string[]).includes(value)) return value as T;
  const guess = closest(value, choices);
  throw new BulkrunError(
    "BULKRUN_ERR_USAGE",
    `--${name} must be ${choices.join(" or ")} (got \`${value}\`)${guess ? `; did you mean \`${guess}\`?` : ""}`,
  );
}
