import { findAction } from "../engine/actions.ts";
import { assertLedgerKept, csvCell, ledgerColumns, readLedger } from "../engine/ledger-export.ts";
import { BulkrunError } from "../errors.ts";
import { choiceFlag, intFlag, parseFlags } from "./args.ts";
import type { Command } from "./command.ts";
import { withRuntime } from "./runtime.ts";

const USAGE = "bulkrun logs <action-id> [--status succeeded|failed|skipped|pending] [--format csv|json]";
const STATUSES = ["succeeded", "failed", "skipped", "pending"] as const;

export const logs: Command = {
  name: "logs",
  summary: "export an action's per-row ledger (CSV or JSON lines) to stdout",
  usage: "bulkrun logs <id> [--status failed|skipped|...] [--format csv|json]",
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, { status: { type: "string" }, format: { type: "string" } }, USAGE);
    if (positionals.length !== 1) throw new BulkrunError("BULKRUN_ERR_USAGE", `usage: ${USAGE}`);
    const id = intFlag("action-id", positionals[0], 1, Number.MAX_SAFE_INTEGER)!;
    const status = choiceFlag("status", values.status, STATUSES);
    const format = choiceFlag("format", values.format, ["csv", "json"] as const) ?? "csv";
    return withRuntime(io, async (runtime) => {
      const action = await findAction(runtime.db.knex, id);
      if (!action) throw new BulkrunError("BULKRUN_ERR_UNKNOWN_ACTION", `there is no bulk action ${id}; list them with \`bulkrun status\``);
      // Before the CSV header; readLedger checks again in its own snapshot, should a prune begin meanwhile.
      assertLedgerKept(action, status);
      const columns = ledgerColumns(runtime.config.plugins.get(action.type), action);
      if (format === "csv") io.out(["row", "status", "outcome", "error", "entity_id", ...columns].join(","));
      for await (const page of readLedger(runtime.db, { actionId: id, status })) {
        const lines = page.map((r) =>
          format === "json"
            ? JSON.stringify({ row: r.row_number, status: r.status, outcome: r.outcome, error: r.error, entityId: r.entity_id, data: r.data })
            : [r.row_number, r.status, r.outcome, r.error, r.entity_id, ...columns.map((c) => r.data?.[c])].map(csvCell).join(","),
        );
        io.out(lines.join("\n"));
      }
      return 0;
    });
  },
};
