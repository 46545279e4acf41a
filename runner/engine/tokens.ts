import { createHash, randomBytes } from "node:crypto";
import type { Knex } from "knex";
import { BulkrunError } from "../errors.ts";

/** Every token starts so, which makes a leaked one easy to spot (and to scan for). */
const PREFIX = "bulkrun_";

/** Who a request's token speaks for: one account, or every account (an admin token). */
export type Principal = { kind: "account"; tokenId: number; accountId: number } | { kind: "admin"; tokenId: number };

/** A token as `bulkrun tokens ls` shows it; the token itself is never stored. */
export interface TokenRow {
  id: number;
  account_id: number | null;
  account: string | null;
  name: string | null;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

function digest(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}

/**
 * Creates an API token for an account (or, with `accountId` null, an admin token that sees every
 * account). Returns the token: it is shown once, as only its SHA-256 is kept.
 */
export async function createToken(db: Knex, accountId: number | null, name: string | null): Promise<{ id: number; token: string }> {
  const token = PREFIX + randomBytes(32).toString("base64url");
  const { rows } = await db.raw<{ rows: { id: number }[] }>(
    "insert into bulkrun_private.api_tokens (account_id, name, token_hash) values (?, ?, ?) returning id",
    [accountId, name, digest(token)],
  );
  return { id: rows[0]!.id, token };
}

/** Every token on record (one account's when given), newest last. */
export async function listTokens(db: Knex, accountId?: number): Promise<TokenRow[]> {
  const { rows } = await db.raw<{ rows: TokenRow[] }>(
    `select t.id, t.account_id, a.name as account, t.name, t.created_at, t.last_used_at, t.revoked_at
       from bulkrun_private.api_tokens t left join bulkrun.accounts a on a.id = t.account_id
      where ?::bigint is null or t.account_id = ? order by t.id`,
    [accountId ?? null, accountId ?? null],
  );
  return rows;
}

/** Revokes a token at once: the next request with it is refused. */
export async function revokeToken(db: Knex, id: number): Promise<void> {
  const { rowCount } = await db.raw<{ rowCount: number }>(
    "update bulkrun_private.api_tokens set revoked_at = coalesce(revoked_at, now()) where id = ?",
    [id],
  );
  if (rowCount === 0) {
    throw new BulkrunError("BULKRUN_ERR_UNKNOWN_TOKEN", `there is no API token ${id}; list them with \`bulkrun tokens ls\``);
  }
}

// last_used_at is written at most once a minute per token, not on every request.
const AUTHENTICATE = `with found as (
    select id, account_id, last_used_at from bulkrun_private.api_tokens where token_hash = ? and revoked_at is null),
  touched as (
    update bulkrun_private.api_tokens t set last_used_at = now() from found
     where t.id = found.id and (found.last_used_at is null or found.last_used_at < now() - interval '1 minute'))
  select id, account_id from found`;

/** The principal of a token, or undefined for a token that is unknown or revoked. */
export async function authenticate(db: Knex, token: string): Promise<Principal | undefined> {
  if (!token.startsWith(PREFIX)) return undefined;
  const { rows } = await db.raw<{ rows: { id: number; account_id: number | null }[] }>(AUTHENTICATE, [digest(token)]);
  const row = rows[0];
  if (!row) return undefined;
  return row.account_id === null ? { kind: "admin", tokenId: row.id } : { kind: "account", tokenId: row.id, accountId: row.account_id };
}
