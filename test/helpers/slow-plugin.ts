import { defineAction } from "../../runner/plugin.ts";
import usersImport from "../../plugins/users-import/index.ts";
import { upsertContacts } from "../../plugins/users-import/queries.ts";
import { parseContact } from "../../plugins/users-import/validate.ts";

const CONTACTS = { columns: ["email", "name", "phone"], required: ["email"], parse: parseContact };

/** CSV input for test plugins: one `email` column, taken as it is. */
export const EMAIL_ROWS = {
  columns: ["email"],
  required: ["email"],
  parse: (record: Record<string, string>) => ({ key: record.email!, data: { email: record.email! } }),
};

/** users.import that sleeps `delay_ms` per chunk, so a test can act while an action runs. */
export const slowImport = defineAction({
  name: "test.slow_import",
  description: "users.import, slowly",
  options: { delay_ms: { type: "integer", default: 100, description: "sleep per chunk" } },
  outcomes: usersImport.outcomes,
  csv: CONTACTS,
  async chunkQuery(context) {
    await context.db.raw("select pg_sleep(?)", [context.options.delay_ms / 1000]);
    return upsertContacts(context.staged, context.accountId, "update");
  },
});

/** Creates users, but fails rows whose email starts with `blocked` until a `test_unblocked` table exists. */
export const blockingImport = defineAction({
  name: "test.blocking_import",
  description: "creates users unless blocked",
  options: {},
  outcomes: { created: "created", blocked: "failed" },
  csv: CONTACTS,
  async processChunk({ db, staged, accountId }) {
    const { rows } = await db.raw<{ rows: { row_number: number; id: number | null }[] }>(
      `with written as (
         insert into bulkrun.users (account_id, email)
         select ?, data->>'email' from ${staged}
          where to_regclass('public.test_unblocked') is not null or data->>'email' not like 'blocked%'
         returning id, lower(email) as key)
       select s.row_number, w.id from ${staged} s left join written w on w.key = lower(s.data->>'email')`,
      [accountId],
    );
    return rows.map((r) =>
      r.id === null
        ? { row: r.row_number, outcome: "blocked" as const, error: "blocked until the cause is fixed" }
        : { row: r.row_number, outcome: "created" as const, entityId: r.id },
    );
  },
});
