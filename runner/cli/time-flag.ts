import { BulkrunError } from "../errors.ts";

const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-](?:0\d|1[0-4])(?::?[0-5]\d)?)?$/i;

/**
 * A flag that must be a future point in time: ISO 8601 with a zone (`Z` or an offset), so that
 * the same command means the same instant on every machine.
 */
export function timeFlag(name: string, value: string | undefined, now = new Date()): Date | undefined {
  if (value === undefined) return undefined;
  const match = ISO_TIME.exec(value.trim());
  if (!match) {
    throw new BulkrunError(
      "BULKRUN_ERR_USAGE",
      `--${name} must be an ISO 8601 time with a zone, such as 2030-01-31T09:00:00Z or 2030-01-31T10:00:00+01:00 (got \`${value}\`)`,
    );
  }
  const [, year, month, day, hour, minute, second = "0", fraction = "", zone] = match;
  if (!zone) {
    throw new BulkrunError(
      "BULKRUN_ERR_USAGE",
      `--${name} \`${value}\` has no time zone; add Z for UTC or an offset such as +01:00`,
    );
  }
  const wall = new Date(Date.UTC(+year!, +month! - 1, +day!, +hour!, +minute!, +second));
  const fields = [wall.getUTCFullYear(), wall.getUTCMonth() + 1, wall.getUTCDate(), wall.getUTCHours(), wall.getUTCMinutes(), wall.getUTCSeconds()];
  if (fields.join() !== [year, month, day, hour, minute, second].map(Number).join()) {
    throw new BulkrunError("BULKRUN_ERR_USAGE", `--${name} \`${value}\` is not a valid date and time`);
  }
  const time = new Date(wall.getTime() + Math.round(Number(`0${fraction}`) * 1000) - offsetMinutes(zone) * 60_000);
  if (time.getTime() <= now.getTime()) {
    throw new BulkrunError("BULKRUN_ERR_USAGE", `--${name} \`${value}\` is in the past; give a time in the future`);
  }
  return time;
}

function offsetMinutes(zone: string): number {
  if (zone.toUpperCase() === "Z") return 0;
  const digits = zone.slice(1).replace(":", "");
  const minutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || "0");
  return zone.startsWith("-") ? -minutes : minutes;
}
