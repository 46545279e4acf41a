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
const MAX_QUOTED = 40;
// Zero-width spaces, direction marks and control characters: invisible, so never meant in an email.
const INVISIBLE = /[\p{Cc}\p{Cf}]/u;
// Line breaks and tabs are text a quoted name may hold; other control characters are not.
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/;
// Nearly every email: neither check above nor the careful lower-casing below applies to it.
const PRINTABLE_ASCII = /^[\x20-\x7E]*$/;

/** Validates a users CSV row. Empty name or phone cells mean "no value", never a failure. */
export function parseContact(record: Record<string, string>): ParsedRow<ContactRow> {
  const email = (record.email ?? "").trim();
  if (email === "") return { error: "email is empty" };
  if (email.length > MAX_EMAIL) return { error: `email is ${email.length} characters long; at most ${MAX_EMAIL} are allowed` };
  const plain = PRINTABLE_ASCII.test(email);
  const invisible = plain ? null : INVISIBLE.exec(email);
  if (invisible) {
    const where = invisible.index === 0 ? "at its start" : `after \`${email.slice(0, invisible.index)}\``;
    return { error: `email contains an invisible character (${codePoint(invisible[0])}) ${where}` };
  }
  if (!EMAIL.test(email)) return { error: `email \`${email}\` is not an email address` };
  const name = (record.name ?? "").trim();
  if (name.length > MAX_NAME) return { error: `name is ${name.length} characters long; at most ${MAX_NAME} are allowed` };
  const control = CONTROL.exec(name);
  if (control) return { error: `name contains a control character (${codePoint(control[0])})` };
  const phone = normalisePhone(record.phone ?? "");
  if (phone === undefined) {
    return { error: `phone \`${quoted(record.phone ?? "")}\` is not a phone number: use 7 to 15 digits, optionally with a leading +` };
  }
  return { key: plain ? email.toLowerCase() : emailKey(email), data: { email, name: name || null, phone } };
}

/** Digits with an optional leading +; spaces, dots, dashes and parentheses are dropped. */
export function normalisePhone(raw: string): string | null | undefined {
  const compact = raw.replace(/[\s().-]/g, "");
  if (compact === "") return null;
  return /^\+?\d{7,15}$/.test(compact) ? compact : undefined;
}

/**
 * The de-duplication key: the email in lower case as Postgres's lower() has it (the unique
 * index is on lower(email)), one character at a time. String#toLowerCase differs for `İ` (to
 * `i̇`) and a word-final `Σ` (to `ς`): two emails Postgres takes for one would get two keys,
 * meet in one upsert and fail their whole chunk.
 */
function emailKey(email: string): string {
  let key = "";
  for (const c of email) key += c === "\u0130" ? "i" : c.toLowerCase();
  return key;
}

/** A cell as an error message quotes it: at most 40 characters. */
function quoted(value: string): string {
  return value.length > MAX_QUOTED ? `${value.slice(0, MAX_QUOTED)}…` : value;
}

function codePoint(c: string): string {
  return `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
}
