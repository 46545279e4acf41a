import type { Knex } from "knex";
import { BulkrunError } from "../errors.ts";

/** A tenant, as `bulkrun accounts ls` shows it. */
export interface AccountRow {
  id: number;
  name: string;
  rate_limit_per_minute: number | null;
  created_at: Date;
}

export async function createAccount(db: Knex, name: string, rateLimitPerMinute: number | null = null): Promise<AccountRow> {
  if (!/^[a-z0-9][a-z0-9_.-]{0,62}$/.test(name)) {
    throw new BulkrunError(
      "BULKRUN_ERR_USAGE",
      `account name \`${name}\` is not allowed: use 1 to 63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  try {
    const { rows } = await db.raw<{ rows: AccountRow[] }>(
      "insert into bulkrun.accounts (name, rate_limit_per_minute) values (?, ?) returning *",
      [name, rateLimitPerMinute],
    );
    return rows[0]!;
  } catch (cause) {
    if ((cause as { code?: string }).code === "23505") {
      throw new BulkrunError("BULKRUN_ERR_ACCOUNT_EXISTS", `an account named \`${name}\` exists already`, { cause });
    }
    throw cause;
  }
}

export async function listAccounts(db: Knex): Promise<AccountRow[]> {
  const { rows } = await db.raw<{ rows: AccountRow[] }>("select * from bulkrun.accounts order by id");
  return rows;
}

/** Finds an account by id or by name, as the CLI's `--account` takes either. */
export async function resolveAccount(db: Knex, ref: string): Promise<AccountRow> {
  const byId = /^\d+$/.test(ref);
  const { rows } = await db.raw<{ rows: AccountRow[] }>(
    `select * from bulkrun.accounts where ${byId ? "id = ?::bigint" : "name = ?"}`,
    [ref],
  );
  if (!rows[0]) {
    throw new BulkrunError(
      "BULKRUN_ERR_UNKNOWN_ACCOUNT",
      `there is no account ${byId ? "with id" : "named"} \`${ref}\`; list them with \`bulkrun accounts ls\` or create one with \`bulkrun accounts create ${byId ? "<name>" : ref}\``,
    );
  }
  return rows[0];
}
