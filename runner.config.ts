import { defineConfig } from "./runner/config.ts";
import usersAnonymize from "./plugins/users-anonymize/index.ts";
import usersDelete from "./plugins/users-delete/index.ts";
import usersImport from "./plugins/users-import/index.ts";
import usersUpdate from "./plugins/users-update/index.ts";

export default defineConfig({
  plugins: [usersImport, usersUpdate, usersDelete, usersAnonymize],
  worker: { concurrency: 2 },
  chunkSize: 10_000,
  // Every new account may apply 10 000 rows a minute unless it is created with its own limit.
  accounts: { defaultRateLimitPerMinute: 10_000 },
  // Runners remove the per-row ledger of actions that finished more than 30 days ago (`bulkrun prune`).
  retention: { olderThan: "30d", keepFailed: false },
});
