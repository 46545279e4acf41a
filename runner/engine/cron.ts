import cron, { type ScheduledTask } from "node-cron";
import { BulkrunError } from "../errors.ts";
import { closest } from "./did-you-mean.ts";

/** A cron expression and the time zone its fields are read in, both checked. */
export interface CronSpec {
  expression: string;
  /** The zone's canonical IANA name (`europe/berlin` becomes `Europe/Berlin`). */
  timeZone: string;
}

const FIELDS: Record<string, string> = {
  second: "second (0-59)",
  minute: "minute (0-59)",
  hour: "hour (0-23)",
  dayOfMonth: "day of month (1-31, L, W)",
  month: "month (1-12 or jan-dec)",
  dayOfWeek: "day of week (0-7 or sun-sat, #, L)",
};

/**
 * Checks a cron expression (five fields, or six with seconds first) and an IANA time zone, with
 * a message that names the bad field or suggests the zone meant.
 */
export function checkCron(expression: string, timeZone: string): CronSpec {
  const { valid, errors } = cron.validateDetailed(expression);
  if (!valid) {
    // node-cron's own wording is kept where it says more than "invalid" (an impossible date).
    const problems = errors.map((e) =>
      FIELDS[e.field] && /invalid expression/.test(e.message) ? `\`${e.value}\` is not a valid ${FIELDS[e.field]}` : e.message,
    );
    throw new BulkrunError(
      "BULKRUN_ERR_SCHEDULE",
      `invalid cron expression \`${expression}\`: ${problems.join("; ")}. ` +
        `Use 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, e.g. "0 3 * * *"`,
    );
  }
  try {
    return { expression, timeZone: new Intl.DateTimeFormat("en-US", { timeZone }).resolvedOptions().timeZone };
  } catch (cause) {
    const guess = closest(timeZone, [...Intl.supportedValuesOf("timeZone"), "UTC"]);
    throw new BulkrunError(
      "BULKRUN_ERR_SCHEDULE",
      `unknown time zone \`${timeZone}\`${guess ? `; did you mean \`${guess}\`?` : ""} (use an IANA name such as Europe/Berlin or UTC)`,
      { cause },
    );
  }
}

/** Runs `body` with a node-cron task that is never started, only asked about times. */
function withMatcher<T>(spec: CronSpec, body: (matcher: ScheduledTask) => T): T {
  const matcher = cron.createTask(spec.expression, () => {}, { timezone: spec.timeZone });
  try {
    return body(matcher);
  } finally {
    void matcher.destroy();
  }
}

/** The first tick after now. */
export function nextTick(spec: CronSpec): Date {
  return withMatcher(spec, (matcher) => matcher.getNextRuns(1)[0]!);
}

interface WallClock {
  hour: number;
  minute: number;
  second: number;
}

function wallClock(timeZone: string): (ms: number) => WallClock {
  const format = new Intl.DateTimeFormat("en-US", { timeZone, hourCycle: "h23", hour: "numeric", minute: "numeric", second: "numeric" });
  return (ms) => {
    const parts = Object.fromEntries(format.formatToParts(ms).map((p) => [p.type, Number(p.value)]));
    return { hour: parts.hour!, minute: parts.minute!, second: parts.second! };
  };
}

/**
 * The most recent tick in (`after`, `until`], or undefined: what catch-up `latest` fires.
 *
 * node-cron only looks forward from now, so this walks back from `until` in wall-clock time,
 * skipping whole days, hours and minutes the expression rules out. Time-zone offsets change on
 * minute boundaries, so stepping back to the previous minute is always exact; the longer steps
 * are taken only when the wall clock confirms they landed where a step of that size must land
 * (not so across a daylight-saving change), else the walk falls back to a shorter one.
 */
export function latestTick(spec: CronSpec, after: Date, until: Date): Date | undefined {
  const fields = cron.parse(spec.expression);
  const clock = wallClock(spec.timeZone);
  return withMatcher(spec, (matcher) => {
    let t = Math.floor(until.getTime() / 1000) * 1000;
    while (t > after.getTime()) {
      const now = clock(t);
      const { hour, minute, second } = now;
      if (!fields.hour.includes(hour)) t = stepBack(clock, t, now, "hour");
      else if (!fields.minute.includes(minute)) t = stepBack(clock, t, now, "minute");
      else if (!fields.second.includes(second)) {
        const earlier = fields.second.filter((s) => s < second);
        t = earlier.length > 0 ? t - (second - Math.max(...earlier)) * 1000 : stepBack(clock, t, now, "minute");
      } else if (matcher.match(new Date(t))) return new Date(t);
      else t = stepBack(clock, t, now, "day");
    }
    return undefined;
  });
}

/** The last second before the current wall-clock day, hour or minute began. */
function stepBack(clock: (ms: number) => WallClock, t: number, now: WallClock, unit: "day" | "hour" | "minute"): number {
  const { hour, minute, second } = now;
  if (unit === "day") {
    const landed = t - (hour * 3600 + minute * 60 + second + 1) * 1000;
    const at = clock(landed);
    if (at.hour === 23 && at.minute === 59 && at.second === 59) return landed;
  }
  if (unit !== "minute") {
    const landed = t - (minute * 60 + second + 1) * 1000;
    const at = clock(landed);
    if (at.hour === (hour + 23) % 24 && at.minute === 59 && at.second === 59) return landed;
  }
  return t - (second + 1) * 1000;
}

/** `date` in ISO 8601 with the zone's offset, as a person there reads it: 2026-12-04T03:00:00+01:00. */
export function isoInZone(date: Date, timeZone: string): string {
  const format = new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    timeZoneName: "longOffset",
  });
  const p = Object.fromEntries(format.formatToParts(date).map((part) => [part.type, part.value]));
  const offset = p.timeZoneName!.replace("GMT", "").replace(/^(\+00:00)?$/, "Z");
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}:${p.second}${offset}`;
}
