const DURATION = /^(\d+)(s|m|h|d|w)$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** How a duration is written, for messages: one example per common unit. */
export const DURATION_EXAMPLES = "30m, 12h or 7d";

/**
 * A span of time as a person writes it, a whole number and a unit (s, m, h, d, w): `30m`, `12h`,
 * `7d`. Returns milliseconds, or undefined when the text is not one (or is zero: "older than
 * nothing" is more likely a slip than a wish to drop the ledger of an action that just finished).
 */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  const ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  return ms > 0 && Number.isSafeInteger(ms) ? ms : undefined;
}
