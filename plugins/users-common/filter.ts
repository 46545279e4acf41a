import type { Knex } from "knex";
import type { FilterInput } from "../../runner/plugin.ts";

/** What a filter over bulkrun.users may use: `--where '{"email":{"endsWith":"@old.example"}}'`. */
export const USERS_FILTER: FilterInput = {
  fields: {
    id: { column: "id", type: "id" },
    email: { column: "email", type: "text" },
    name: { column: "name", type: "text" },
    phone: { column: "phone", type: "text" },
    status: { column: "status", type: "text" },
    createdAt: { column: "created_at", type: "timestamp" },
    updatedAt: { column: "updated_at", type: "timestamp" },
  },
  table: (db: Knex, accountId: number) => db("bulkrun.users").where("account_id", accountId).select("id"),
};
