import { createReadStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { createAccount, listAccounts } from "../engine/accounts.ts";
import { writeSeedCsv } from "../engine/seed.ts";
import { submitFile } from "../engine/submit.ts";
import { intFlag, parseFlags } from "./args.ts";
import type { Command } from "./command.ts";
import { waitFor } from "./wait.ts";
import { count } from "./progress.ts";
import { withRuntime } from "./runtime.ts";
import { serve } from "./serve.ts";

const USAGE = "bulkrun demo [--rows N]";

/** Generates a users CSV, runs a worker in this process and imports the file with live progress. */
export const demo: Command = {
  name: "demo",
  summary: "import a generated users CSV end to end on this machine and show the result",
  usage: USAGE,
  async run(argv, io) {
    const { values } = parseFlags(argv, { rows: { type: "string" } }, USAGE);
    const rows = intFlag("rows", values.rows, 1, 10_000_000) ?? 50_000;
    return withRuntime(io, async (runtime) => {
      const file = resolve(runtime.config.database.dataDir, "..", "demo-users.csv");
      await mkdir(dirname(file), { recursive: true });
      const seeded = await writeSeedCsv(file, { rows, duplicates: 2, invalid: 1 });
      io.err(`wrote ${file}: ${count(seeded.rows)} users, ${count(seeded.duplicates)} repeated emails, ${count(seeded.invalid)} invalid rows`);
      const account = (await listAccounts(runtime.db.knex)).find((a) => a.name === "demo") ?? (await createAccount(runtime.db.knex, "demo", null));
      const served = await serve(runtime, ["worker"], io);
      try {
        const action = await submitFile(runtime, { accountId: account.id, type: "users.import" }, createReadStream(file), "demo-users.csv");
        io.err(`importing into account demo as bulk action ${action.id}`);
        const code = await waitFor(runtime, action, io);
        io.out(`ledger of the rows that failed: npm run bulkrun -- logs ${action.id} --status failed`);
        return code;
      } finally {
        await served.stop();
      }
    });
  },
};
