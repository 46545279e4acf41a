import { closest } from "../runner/engine/did-you-mean.ts";
import type { AccountState } from "./model.ts";

/** Which actions the table lists, as the person typed it after `/`. */
export interface Filter {
  text: string;
  status?: string;
  accountId?: number;
}

const STATUSES = ["scheduled", "queued", "preparing", "running", "paused", "completed", "failed", "cancelled"];

/**
 * Reads what was typed after `/`: a status (`running`), an account's name (`acme`), or nothing
 * (every action). Returns a message instead when it is neither, with a guess.
 */
export function parseFilter(typed: string, accounts: readonly AccountState[]): Filter | string {
  const text = typed.trim();
  if (text === "") return { text };
  const lower = text.toLowerCase();
  if (STATUSES.includes(lower)) return { text: lower, status: lower };
  const account = accounts.find((a) => a.name === lower);
  if (account) return { text: account.name, accountId: account.id };
  const guess = closest(lower, [...STATUSES, ...accounts.map((a) => a.name)]);
  return `no status or account \`${text}\`${guess ? `; did you mean \`${guess}\`?` : ""}`;
}
