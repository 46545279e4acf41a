import { resolveAccount } from "../engine/accounts.ts";
import { checkCron, isoInZone } from "../engine/cron.ts";
import { closest } from "../engine/did-you-mean.ts";
import {
  CATCH_UP_POLICIES,
  createSchedule,
  listSchedules,
  removeSchedule,
  setScheduleEnabled,
  type ScheduleRow,
} from "../engine/schedules.ts";
import { BulkrunError } from "../errors.ts";
import { choiceFlag, intFlag, parseFlags } from "./args.ts";
import type { Command } from "./command.ts";
import { withRuntime, type Io } from "./runtime.ts";

const ADD_USAGE =
  'bulkrun schedule add "<cron>" --account <id|name> [--tz ZONE] [--catch-up none|latest] import <url> [--on-conflict update|skip] [--chunk-size N]';
const USAGE = `${ADD_USAGE} | bulkrun schedule ls [--account <id|name>] | bulkrun schedule pause|resume|rm <id>`;

/** What a schedule can run, by the command that runs it once: `schedule add ... import <url>`. */
const ACTIONS: Record<string, string> = { import: "users.import" };

export const schedule: Command = {
  name: "schedule",
  summary: "run an import from a URL on a cron schedule; list, pause, resume, remove schedules",
  usage: 'bulkrun schedule add "<cron>" --account A [--tz ZONE] import <url> | ls | pause|resume|rm <id>',
  async run(argv, io) {
    const [verb, ...rest] = argv;
    switch (verb) {
      case "add":
        return add(rest, io);
      case "ls":
      case "list":
        return list(rest, io);
      case "pause":
      case "resume":
      case "rm":
        return change(verb, rest, io);
      default: {
        const guess = verb ? closest(verb, ["add", "ls", "pause", "resume", "rm"]) : undefined;
        throw new BulkrunError("BULKRUN_ERR_USAGE", `${guess ? `did you mean \`schedule ${guess}\`? ` : ""}usage: ${USAGE}`);
      }
    }
  },
};

async function add(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseFlags(
    argv,
    {
      account: { type: "string" },
      tz: { type: "string" },
      "catch-up": { type: "string" },
      "on-conflict": { type: "string" },
      "chunk-size": { type: "string" },
    },
    ADD_USAGE,
  );
  if (positionals.length !== 3) {
    const hint = positionals.length > 3 ? "put the cron expression in quotes, then give the action and its URL" : "give the cron expression, the action and its URL";
    throw new BulkrunError("BULKRUN_ERR_USAGE", `${hint} (usage: ${ADD_USAGE})`);
  }
  const [expression, verb, url] = positionals as [string, string, string];
  const type = ACTIONS[verb];
  if (!type) {
    const guess = closest(verb, Object.keys(ACTIONS));
    throw new BulkrunError(
      "BULKRUN_ERR_USAGE",
      `a schedule can run ${Object.keys(ACTIONS).map((a) => `\`${a}\``).join(", ")}, not \`${verb}\`${guess ? `; did you mean \`${guess}\`?` : ""}`,
    );
  }
  if (!/^https?:\/\//i.test(url)) {
    throw new BulkrunError(
      "BULKRUN_ERR_USAGE",
      `a schedule imports from an http(s) URL, fetched at every tick (got \`${url}\`); import a local file once with \`bulkrun import\``,
    );
  }
  if (!values.account) throw new BulkrunError("BULKRUN_ERR_USAGE", `--account is required (usage: ${ADD_USAGE})`);
  const catchUp = choiceFlag("catch-up", values["catch-up"], CATCH_UP_POLICIES) ?? "none";
  const onConflict = choiceFlag("on-conflict", values["on-conflict"], ["update", "skip"] as const);
  const chunkSize = intFlag("chunk-size", values["chunk-size"], 1, 100_000);
  const spec = checkCron(expression, values.tz ?? "UTC");
  return withRuntime(io, async (runtime) => {
    const account = await resolveAccount(runtime.db.knex, values.account!);
    const row = await createSchedule(runtime, {
      accountId: account.id,
      cron: spec.expression,
      timeZone: spec.timeZone,
      type,
      options: onConflict ? { on_conflict: onConflict } : {},
      source: { kind: "url", url },
      chunkSize,
      catchUp,
    });
    io.out(
      `created schedule ${row.id}: ${verb} ${url} for account ${account.name} at \`${row.cron}\` (${row.time_zone}); ` +
        `next tick ${isoInZone(row.next_fire_at!, row.time_zone)}`,
    );
    return 0;
  });
}

async function list(argv: string[], io: Io): Promise<number> {
  const usage = "bulkrun schedule ls [--account <id|name>]";
  const { values, positionals } = parseFlags(argv, { account: { type: "string" } }, usage);
  if (positionals.length > 0) throw new BulkrunError("BULKRUN_ERR_USAGE", `usage: ${usage}`);
  return withRuntime(io, async ({ db }) => {
    const account = values.account ? await resolveAccount(db.knex, values.account) : undefined;
    io.out(["id", "account", "cron", "time zone", "action", "source", "catch-up", "state", "last fired", "next tick"].join("\t"));
    for (const s of await listSchedules(db.knex, account?.id)) {
      const at = (date: Date | null) => (date ? isoInZone(date, s.time_zone) : "-");
      io.out(
        [s.id, s.account, s.cron, s.time_zone, s.type, describeSource(s), s.catch_up, s.enabled ? "active" : "paused", at(s.last_fired_at), at(s.next_fire_at)].join("\t"),
      );
    }
    return 0;
  });
}

function describeSource(schedule: ScheduleRow): string {
  const { url, rows, where } = schedule.source as { url?: string; rows?: unknown[]; where?: unknown };
  if (url) return url;
  return where === undefined ? `${rows?.length ?? 0} inline rows` : `where ${JSON.stringify(where)}`;
}

async function change(verb: "pause" | "resume" | "rm", argv: string[], io: Io): Promise<number> {
  const usage = `bulkrun schedule ${verb} <id>`;
  const { positionals } = parseFlags(argv, {}, usage);
  if (positionals.length !== 1) throw new BulkrunError("BULKRUN_ERR_USAGE", `usage: ${usage}`);
  const id = intFlag("id", positionals[0], 1, Number.MAX_SAFE_INTEGER)!;
  return withRuntime(io, async ({ db }) => {
    if (verb === "rm") {
      await removeSchedule(db.knex, id);
      io.out(`removed schedule ${id}; the actions it started are kept`);
    } else {
      const row = await setScheduleEnabled(db.knex, id, verb === "resume");
      io.out(row.enabled ? `resumed schedule ${id}; next tick ${isoInZone(row.next_fire_at!, row.time_zone)}` : `paused schedule ${id}`);
    }
    return 0;
  });
}
