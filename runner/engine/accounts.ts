import type { Knex } from "knex";
import { UniqueViolationError } from "objection";
import { Account } from "../db/models/account.ts";
import { BulkrunError } from "../errors.ts";

export async function createAccount(db: Knex, name: string, rateLimitPerMinute: number | null = null): Promise<Account> {
  if (!/^[a-z0-9][a-z0-9_.-]{0,62}$/.test(name)) {
    throw new BulkrunError(
      "BULKRUN_ERR_USAGE",
      `account name \`${name}\` is not allowed: use 1 to 63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  try {
    return await Account.query(db).insert({ name, rate_limit_per_minute: rateLimitPerMinute }).returning("*");
  } catch (cause) {
    if (cause instanceof UniqueViolationError) {
      throw new BulkrunError("BULKRUN_ERR_ACCOUNT_EXISTS", `an account named \`${name}\` exists already`, { cause });
    }
    throw cause;
  }
}

export async function listAccounts(db: Knex): Promise<Account[]> {
  return Account.query(db).orderBy("id");
}

/** Finds an account by id or by name, as the CLI's `--account` takes either. */
export async function resolveAccount(db: Knex, ref: string): Promise<Account> {
  const byId = /^\d+$/.test(ref);
  const account = await Account.query(db).findOne(byId ? { id: Number(ref) } : { name: ref });
  if (!account) {
    throw new BulkrunError(
      "BULKRUN_ERR_UNKNOWN_ACCOUNT",
      `there is no account ${byId ? "with id" : "named"} \`${ref}\`; list them with \`bulkrun accounts ls\` or create one with \`bulkrun accounts create ${byId ? "<name>" : ref}\``,
    );
  }
  return account;
}
