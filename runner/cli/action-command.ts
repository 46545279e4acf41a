import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { basename } from "node:path";
import type { ParseArgsConfig } from "node:util";
import { resolveAccount } from "../engine/accounts.ts";
import type { ActionSource } from "../engine/source.ts";
import { submitAction, submitFile, type ActionRequest } from "../engine/submit.ts";
import { checkWebhookUrl, ensureWebhookSecret } from "../engine/webhook-settings.ts";
import { BulkrunError } from "../errors.ts";
import { intFlag, parseFlags } from "./args.ts";
import type { Command } from "./command.ts";
import { withRuntime } from "./runtime.ts";
import { timeFlag } from "./time-flag.ts";
import { waitFor } from "./wait.ts";

type Flags = NonNullable<ParseArgsConfig["options"]>;
type Values = Record<string, unknown>;

/** What makes one action type's command different from the others. */
export interface ActionCommandSpec {
  name: string;
  /** The plugin it starts. */
  type: string;
  summary: string;
  /** Its own flags, e.g. `--on-conflict`, and their place in the usage line. */
  flags: Flags;
  flagsUsage: string;
  /** The action's options from the parsed flags. */
  options(values: Values): Record<string, unknown>;
  /** Whether it takes `--where JSON` instead of a file. */
  filter: boolean;
}

const COMMON: Flags = {
  account: { type: "string" },
  "chunk-size": { type: "string" },
  "dry-run": { type: "boolean" },
  priority: { type: "string" },
  at: { type: "string" },
  "webhook-url": { type: "string" },
  wait: { type: "boolean" },
};

/**
 * A command that starts one bulk action: from a local CSV (streamed into the database by this
 * process), an http(s) URL (fetched by a worker), or, for types that take one, a filter.
 */
export function actionCommand(spec: ActionCommandSpec): Command {
  const input = spec.filter ? "<file|url> | --where JSON" : "<file|url>";
  const usage = `bulkrun ${spec.name} ${input} --account A ${spec.flagsUsage} [--dry-run] [--priority P] [--chunk-size N] [--at TIME] [--webhook-url URL] [--wait]`
    .replace(/\s+/g, " ");
  return {
    name: spec.name,
    summary: spec.summary,
    usage,
    async run(argv, io) {
      const flags: Flags = { ...COMMON, ...spec.flags, ...(spec.filter && { where: { type: "string" } }) };
      const { values, positionals } = parseFlags(argv, flags, usage);
      const where = values.where as string | undefined;
      if (positionals.length > 1 || (positionals.length === 1) === (where !== undefined)) {
        throw new BulkrunError("BULKRUN_ERR_USAGE", `give one ${spec.filter ? "file, URL or --where filter" : "file or URL"} (usage: ${usage})`);
      }
      if (!values.account) throw new BulkrunError("BULKRUN_ERR_USAGE", `--account is required (usage: ${usage})`);
      const options = spec.options(values);
      const source = sourceOf(positionals[0], where);
      if (!source && positionals[0]) await checkFile(positionals[0]);
      const runAt = timeFlag("at", values.at as string | undefined);
      const webhookUrl = values["webhook-url"] === undefined ? undefined : checkWebhookUrl(values["webhook-url"] as string);
      return withRuntime(io, async (runtime) => {
        const account = await resolveAccount(runtime.db.knex, values.account as string);
        const request: ActionRequest = {
          accountId: account.id,
          type: spec.type,
          options,
          chunkSize: intFlag("chunk-size", values["chunk-size"] as string | undefined, 1, 100_000),
          dryRun: values["dry-run"] as boolean | undefined,
          priority: intFlag("priority", values.priority as string | undefined, -100, 100),
          webhookUrl,
          runAt,
        };
        if (webhookUrl) {
          const { generatedSecret } = await ensureWebhookSecret(runtime.db.knex, account.id);
          if (generatedSecret) io.out(`webhook secret of account ${account.name} (new; shown only this once; deliveries are signed with it): ${generatedSecret}`);
        }
        const action = source
          ? await submitAction(runtime, request, source)
          : await submitFile(runtime, request, createReadStream(positionals[0]!), basename(positionals[0]!));
        io.out(
          runAt
            ? `scheduled bulk action ${action.id} for account ${account.name} at ${runAt.toISOString()}`
            : `queued bulk action ${action.id} for account ${account.name}`,
        );
        for (const warning of action.warnings) io.err(`warning: ${warning}`);
        return values.wait ? waitFor(runtime, action, io) : 0;
      });
    },
  };
}

/** A URL or filter source the worker reads; undefined for a local file this process stages. */
function sourceOf(input: string | undefined, where: string | undefined): ActionSource | undefined {
  if (where !== undefined) {
    try {
      return { kind: "filter", where: JSON.parse(where) };
    } catch (cause) {
      throw new BulkrunError("BULKRUN_ERR_FILTER", `--where is not valid JSON: ${(cause as Error).message}`, { cause });
    }
  }
  return input && /^https?:\/\//i.test(input) ? { kind: "url", url: input } : undefined;
}

async function checkFile(path: string): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new BulkrunError("BULKRUN_ERR_FILE_NOT_FOUND", `no such file: ${path}`);
  if (!info.isFile()) throw new BulkrunError("BULKRUN_ERR_NOT_CSV", `${path} is not a regular file; give a CSV file`);
}
