import { normalisePhone } from "../users-import/validate.ts";
import { parseContact } from "../users-import/validate.ts";

/** The users columns an update may write, besides the key. */
export const WRITABLE = ["email", "name", "phone", "status"] as const;
export type Writable = (typeof WRITABLE)[number];

const MAX_NAME = 200;
const MAX_STATUS = 50;
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/;

/** A field's new value, normalised, or why it cannot be written. Empty means "clear it". */
export function checkField(field: Writable, raw: string): { value: string | null } | { error: string } {
  const value = raw.trim();
  switch (field) {
    case "email": {
      const contact = parseContact({ email: value });
      return "error" in contact ? contact : { value: contact.data.email };
    }
    case "name":
      if (value.length > MAX_NAME) return { error: `name is ${value.length} characters long; at most ${MAX_NAME} are allowed` };
      if (CONTROL.test(value)) return { error: "name contains a control character" };
      return { value: value || null };
    case "phone": {
      const phone = normalisePhone(value);
      return phone === undefined
        ? { error: `phone \`${value.slice(0, 40)}\` is not a phone number: use 7 to 15 digits, optionally with a leading +` }
        : { value: phone };
    }
    case "status":
      if (value === "") return { error: "status cannot be empty" };
      if (value.length > MAX_STATUS || CONTROL.test(value)) return { error: `status must be 1 to ${MAX_STATUS} printable characters` };
      return { value };
  }
}
