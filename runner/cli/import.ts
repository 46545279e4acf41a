import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { basename } from "node:path";
import { resolveAccount } from "../engine/accounts.ts";
import type { ActionRow } from "../engine/actions.ts";
import { liveRunners } from "../engine/heartbeat.ts";
import { submitAction, submitFile } from "../engine/submit.ts";
import { watchAction } from "../engine/watch.ts";
import { checkWebhookUrl, ensureWebhookSecret } from "../engine/webhook-settings.ts";
import { BulkrunError } from "../errors.ts";
import { choiceFlag, intFlag, parseFlags } from "./args.ts";
import type { Command } from "./command.ts";
import { progressLine, summaryLine } from "./progress.ts";
import { withRuntime, type Io, type Runtime } from "./runtime.ts";

const USAGE =
  "bulkrun import <file|url> --account <id|name> [--on-conflict update|skip] [--chunk-size N] [--dry-run] [--priority P] [--webhook-url URL] [--wait]";

export const importCommand: Command = {
  name: "import",
  summary: "import users from a CSV file or http(s) URL (name, email, phone)",
  usage: "bulkrun import <file|url> --account A [--on-conflict update|skip] [--chunk-size N] [--webhook-url URL] [--wait]",
  async run(argv, io) {
    const { values, positionals } = parseFlags(
      argv,
      {
        account: { type: "string" },
        "on-conflict": { type: "string" },
        "chunk-size": { type: "string" },
        "dry-run": { type: "boolean" },
        priority: { type: "string" },
        wait: { type: "boolean" },
        "webhook-url": { type: "string" },
      },
      USAGE,
    );
    const [input] = positionals;
    if (!input || positionals.length > 1) throw new BulkrunError("BULKRUN_ERR_USAGE", `give one file or URL (usage: ${USAGE})`);
    if (!values.account) throw new BulkrunError("BULKRUN_ERR_USAGE", `--account is required (usage: ${USAGE})`);
    const onConflict = choiceFlag("on-conflict", values["on-conflict"], ["update", "skip"] as const);
    const chunkSize = intFlag("chunk-size", values["chunk-size"], 1, 100_000);
    const webhookUrl = values["webhook-url"] === undefined ? undefined : checkWebhookUrl(values["webhook-url"]);
    const isUrl = /^https?:\/\//i.test(input);
    if (!isUrl) await checkFile(input);
    return withRuntime(io, async (runtime) => {
      const account = await resolveAccount(runtime.db.knex, values.account!);
      const request = {
        accountId: account.id,
        type: "users.import",
        options: onConflict ? { on_conflict: onConflict } : {},
        chunkSize,
        dryRun: values["dry-run"],
        priority: intFlag("priority", values.priority, -100, 100),
        webhookUrl,
      };
      if (webhookUrl) {
        const { generatedSecret } = await ensureWebhookSecret(runtime.db.knex, account.id);
        if (generatedSecret) io.out(`webhook secret of account ${account.name} (new; shown only this once; deliveries are signed with it): ${generatedSecret}`);
      }
      const action = isUrl
        ? await submitAction(runtime, request, { kind: "url", url: input })
        : await submitFile(runtime, request, createReadStream(input), basename(input));
      io.out(`queued bulk action ${action.id} for account ${account.name}`);
      for (const warning of action.warnings) io.err(`warning: ${warning}`);
      return values.wait ? waitFor(runtime, action, io) : 0;
    });
  },
};

async function checkFile(path: string): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new BulkrunError("BULKRUN_ERR_FILE_NOT_FOUND", `no such file: ${path}`);
  if (!info.isFile()) throw new BulkrunError("BULKRUN_ERR_NOT_CSV", `${path} is not a regular file; give a CSV file`);
}

/** Shows progress until the action ends; non-zero unless it completed. */
export async function waitFor(runtime: Runtime, action: ActionRow, io: Io): Promise<number> {
  if ((await liveRunners(runtime.db.knex)) === 0) {
    io.err("warning: no runner process is alive; the action waits until one starts (`bulkrun start` or `bulkrun worker`)");
  }
  let lastPrinted = 0;
  const final = await watchAction(runtime.db, action.id, (current) => {
    const now = Date.now();
    if (io.isTTY) io.status(progressLine(current, now));
    else if (now - lastPrinted >= 2000) {
      lastPrinted = now;
      io.err(progressLine(current, now));
    }
  });
  if (io.isTTY) io.status("");
  io.out(summaryLine(final));
  if (final.status === "completed") return 0;
  io.err(`bulkrun: action ${final.id} ended ${final.status}${final.error ? `: ${final.error}` : ""} [${final.error_code ?? "BULKRUN_ERR_ACTION_FAILED"}]`);
  return 1;
}
