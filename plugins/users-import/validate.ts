import type { ParsedRow } from "../../runner/plugin.ts";

/** A contact ready to be written: trimmed, with a normalised phone. */
export interface ContactRow {
  email: string;
  name: string | null;
  phone: string | null;
}

const EMAIL = /^[^\s@]{1,64}@[^\s@.]+(\.[^\s@.]+)+$/;
const MAX_EMAIL = 254;
const MAX_NAME = 200;

/** Validates a users CSV row. Empty name or phone cells mean "no value", never a failure. */
export function parseContact(record: Record<string, string>): ParsedRow<ContactRow> {
  const email = (record.email ?? "").trim();
  if (email === "") return { error: "email is empty" };
  if (email.length > MAX_EMAIL) return { error: `email is ${email.length} characters long; at most ${MAX_EMAIL} are allowed` };
  if (!EMAIL.test(email)) return { error: `email \`${email}\` is not an email address` };
  const name = (record.name ?? "").trim();
  if (name.length > MAX_NAME) return { error: `name is ${name.length} characters long; at most ${MAX_NAME} are allowed` };
  const phone = normalisePhone(record.phone ?? "");
  if (phone === undefined) {
    return { error: `phone \`${record.phone}\` is not a phone number: use 7 to 15 digits, optionally with a leading +` };
  }
  return { key: email.toLowerCase(), data: { email, name: name || null, phone } };
}

/** Digits with an optional leading +; spaces, dots, dashes and parentheses are dropped. */
export function normalisePhone(raw: string): string | null | undefined {
  const compact = raw.replace(/[\s().-]/g, "");
  if (compact === "") return null;
  return /^\+?\d{7,15}$/.test(compact) ? compact : undefined;
}
