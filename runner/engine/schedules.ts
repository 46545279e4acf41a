import type { Knex } from "knex";
import { BulkrunError } from "../errors.ts";
import { translateTransitionError, type ActionRow } from "./actions.ts";
import type { EngineContext } from "./context.ts";
import { checkCron, nextTick } from "./cron.ts";
import { validateOptions } from "./options.ts";
import { pluginFor } from "./prepare.ts";
import { parseSource } from "./source.ts";

/** What a scheduler does about ticks missed while no runner was up. */
export const CATCH_UP_POLICIES = ["none", "latest"] as const;
export type CatchUp = (typeof CATCH_UP_POLICIES)[number];

/** A row of `bulkrun.schedules`. */
export interface ScheduleRow {
  id: number;
  account_id: number;
  cron: string;
  time_zone: string;
  type: string;
  options: Record<string, unknown>;
  source: Record<string, unknown>;
  chunk_size: number | null;
  enabled: boolean;
  catch_up: CatchUp;
  last_fired_at: Date | null;
  next_fire_at: Date | null;
  resumed_at: Date | null;
  created_at: Date;
}

/** A schedule to create: every tick of `cron` in `timeZone` starts this action. */
export interface ScheduleRequest {
  accountId: number;
  cron: string;
  /** IANA time zone the cron fields are read in. @default "UTC" */
  timeZone?: string;
  type: string;
  options?: Record<string, unknown>;
  /** Read afresh at every tick: a URL (`{"url": ...}`), inline rows or a filter. */
  source: Record<string, unknown>;
  chunkSize?: number;
  /** @default "none" */
  catchUp?: CatchUp;
}

/** An action as the scheduling functions return it: with its start time. */
export type ScheduledActionRow = ActionRow & { run_at: Date | null };

/**
 * Checks everything a tick will need (cron, time zone, action type, options, source) and stores
 * the schedule; running schedulers pick it up at once (they LISTEN for changes).
 */
export async function createSchedule(ctx: EngineContext, request: ScheduleRequest): Promise<ScheduleRow> {
  const spec = checkCron(request.cron, request.timeZone ?? "UTC");
  const plugin = pluginFor(ctx, request.type);
  validateOptions(plugin.name, plugin.options, request.options ?? {});
  if (!["url", "inline", "filter"].includes(parseSource(request.source).kind)) {
    throw new BulkrunError("BULKRUN_ERR_SOURCE", "a schedule reads its source afresh at every tick: give a URL, inline rows or a filter");
  }
  const { rows } = await ctx.db.knex.raw<{ rows: ScheduleRow[] }>(
    `insert into bulkrun.schedules (account_id, cron, time_zone, type, options, source, chunk_size, catch_up, next_fire_at)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?) returning *`,
    [
      request.accountId, spec.expression, spec.timeZone, request.type, request.options ?? {}, request.source,
      request.chunkSize ?? null, request.catchUp ?? "none", nextTick(spec),
    ],
  );
  return rows[0]!;
}

/** Schedules with their account's name, oldest first; one account's when `accountId` is given. */
export async function listSchedules(db: Knex, accountId?: number): Promise<(ScheduleRow & { account: string })[]> {
  const { rows } = await db.raw<{ rows: (ScheduleRow & { account: string })[] }>(
    `select s.*, a.name as account from bulkrun.schedules s join bulkrun.accounts a on a.id = s.account_id
      where ?::bigint is null or s.account_id = ? order by s.id`,
    [accountId ?? null, accountId ?? null],
  );
  return rows;
}

/** The schedules a scheduler runs. */
export async function enabledSchedules(db: Knex): Promise<ScheduleRow[]> {
  const { rows } = await db.raw<{ rows: ScheduleRow[] }>("select * from bulkrun.schedules where enabled order by id");
  return rows;
}

function unknownSchedule(id: number): BulkrunError {
  return new BulkrunError("BULKRUN_ERR_UNKNOWN_SCHEDULE", `there is no schedule ${id}; list them with \`bulkrun schedule ls\``);
}

/**
 * Pauses or resumes a schedule. Ticks while it was paused are never caught up (the table's trigger
 * records when it resumed); a running tick that already holds the schedule finishes first.
 */
export async function setScheduleEnabled(db: Knex, id: number, enabled: boolean): Promise<ScheduleRow> {
  const { rows } = await db.raw<{ rows: ScheduleRow[] }>("update bulkrun.schedules set enabled = ? where id = ? returning *", [enabled, id]);
  const row = rows[0];
  if (!row) throw unknownSchedule(id);
  if (!enabled) return row;
  const next = nextTick(checkCron(row.cron, row.time_zone));
  await db.raw("update bulkrun.schedules set next_fire_at = ? where id = ?", [next, id]);
  return { ...row, next_fire_at: next };
}

/** Deletes a schedule; the actions it started stay (their `schedule_id` becomes null). */
export async function removeSchedule(db: Knex, id: number): Promise<void> {
  const { rowCount } = await db.raw<{ rowCount: number }>("delete from bulkrun.schedules where id = ?", [id]);
  if (rowCount === 0) throw unknownSchedule(id);
}

/** One tick of a schedule, as a runner's cron fires it. */
export interface Tick {
  scheduleId: number;
  tickAt: Date;
  /** The tick after this one, shown as the schedule's next fire. */
  nextFireAt: Date | null;
  /** Who fires it, recorded on the claim. */
  runner: string;
}

/**
 * Claims the tick and starts its action in one transaction. Returns the action's id, or null when
 * the tick was not this runner's to fire: another runner claimed it first, or the schedule is
 * paused, removed, or already fired a later tick.
 */
export async function fireSchedule(db: Knex, tick: Tick): Promise<number | null> {
  const { rows } = await db.raw<{ rows: { action_id: number | null }[] }>(
    "select bulkrun_private.fire_schedule(?, ?, ?, ?) as action_id",
    [tick.scheduleId, tick.tickAt, tick.nextFireAt, tick.runner],
  );
  return rows[0]!.action_id;
}

/** Stores the next tick of each schedule, as a scheduler computed it; unchanged rows are not written. */
export async function recordNextTicks(db: Knex, ticks: { id: number; next: Date }[]): Promise<void> {
  if (ticks.length === 0) return;
  await db.raw(
    `update bulkrun.schedules s set next_fire_at = t.next
       from unnest(?::bigint[], ?::timestamptz[]) as t(id, next)
      where s.id = t.id and s.enabled and s.next_fire_at is distinct from t.next`,
    [ticks.map((t) => t.id), ticks.map((t) => t.next)],
  );
}

/** Moves a scheduled action to another start time (now or earlier starts it at once). */
export async function rescheduleAction(db: Knex, id: number, runAt: Date): Promise<ScheduledActionRow> {
  try {
    const { rows } = await db.raw<{ rows: ScheduledActionRow[] }>("select * from bulkrun.reschedule_action(?, ?)", [id, runAt]);
    return rows[0]!;
  } catch (cause) {
    throw translateTransitionError(cause);
  }
}

/** Cancels a scheduled action before it starts: its prepare job is dropped and it never runs. */
export async function cancelScheduledAction(db: Knex, id: number): Promise<ScheduledActionRow> {
  try {
    const { rows } = await db.raw<{ rows: ScheduledActionRow[] }>("select * from bulkrun.cancel_scheduled_action(?)", [id]);
    return rows[0]!;
  } catch (cause) {
    throw translateTransitionError(cause);
  }
}
