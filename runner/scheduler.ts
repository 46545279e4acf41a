import { randomUUID } from "node:crypto";
import cron, { type Logger, type ScheduledTask } from "node-cron";
import pg from "pg";
import { APPLICATION_NAME } from "./db/database.ts";
import type { EngineContext } from "./engine/context.ts";
import { checkCron, latestTick, type CronSpec } from "./engine/cron.ts";
import { enabledSchedules, fireSchedule, recordNextTicks, type ScheduleRow } from "./engine/schedules.ts";

/** Options of {@link startScheduler}. */
export interface SchedulerOptions {
  /** Recorded on the ticks this scheduler claims (`schedule_ticks.claimed_by`). @default "runner-<random uuid>" */
  runnerId?: string;
  /**
   * How often the schedules are re-read without being told, in ms: a safety net for a change
   * notification lost with a broken connection.
   * @default 60000
   */
  refreshMs?: number;
}

/** The cron schedules running in this process. */
export interface Scheduler {
  /** Re-reads the schedules (done by itself whenever one is added, paused, resumed or removed). */
  reload(): Promise<void>;
  /** Stops firing ticks, then waits for the ones being fired. */
  stop(): Promise<void>;
}

interface Loaded {
  cron: string;
  timeZone: string;
  spec?: CronSpec;
  /** Absent when the row's cron or time zone is invalid (written by SQL, not by the CLI). */
  task?: ScheduledTask;
}

/**
 * Runs every enabled schedule on node-cron in this process. Every runner process runs one; each
 * tick still starts exactly one action, because firing goes through the tick's claim row (see
 * `bulkrun_private.fire_schedule`): the first runner to insert it creates the action, the others
 * find it taken.
 *
 * Changes reach the scheduler by LISTEN/NOTIFY on `bulkrun:schedule` (a trigger on the table), so
 * a pause takes effect in milliseconds, not after a polling interval; a slow periodic re-read
 * covers notifications lost while the listener reconnects. Correctness does not hang on either:
 * the claim re-checks in the database that the schedule still exists and is enabled.
 *
 * On start and on every re-read, a schedule with catch-up `latest` fires once for its most recent
 * tick since it last fired (or was created or resumed), if that tick was missed.
 */
export async function startScheduler(ctx: EngineContext, options: SchedulerOptions = {}): Promise<Scheduler> {
  const scheduler = new CronScheduler(ctx, options.runnerId ?? `runner-${randomUUID()}`);
  try {
    await scheduler.start(options.refreshMs ?? 60_000);
  } catch (error) {
    await scheduler.stop();
    throw error;
  }
  return scheduler;
}

class CronScheduler implements Scheduler {
  private readonly loaded = new Map<number, Loaded>();
  private readonly firing = new Set<Promise<void>>();
  private readonly logger: Logger;
  private listener: pg.Client | undefined;
  private refresh: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private reloading: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly ctx: EngineContext,
    private readonly runnerId: string,
  ) {
    const log = (message: string | Error) => ctx.log(`scheduler: ${message instanceof Error ? message.message : message}`);
    this.logger = { info: () => {}, debug: () => {}, warn: log, error: log };
  }

  async start(refreshMs: number): Promise<void> {
    // Listening first: a change made while the schedules are read is announced afterwards.
    await this.listen();
    await this.reload();
    this.refresh = setInterval(() => this.reloadInBackground(), refreshMs);
    this.refresh.unref();
  }

  reload(): Promise<void> {
    if (this.reloading) {
      this.again = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      try {
        do {
          this.again = false;
          await this.sync();
        } while (this.again && !this.stopped);
      } finally {
        this.reloading = undefined;
      }
    })();
    return this.reloading;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.refresh);
    clearTimeout(this.retry);
    await this.reloading?.catch(() => {});
    for (const [id, entry] of this.loaded) this.unload(id, entry);
    await this.listener?.end().catch(() => {});
    this.listener = undefined;
    await Promise.all(this.firing);
  }

  private reloadInBackground(): void {
    this.reload().catch((error: Error) => this.ctx.log(`scheduler: reading the schedules failed: ${error.message}`));
  }

  private async sync(): Promise<void> {
    const rows = await enabledSchedules(this.ctx.db.knex);
    if (this.stopped) return;
    const enabled = new Set(rows.map((row) => row.id));
    for (const [id, entry] of this.loaded) if (!enabled.has(id)) this.unload(id, entry);
    const now = new Date();
    const next: { id: number; next: Date }[] = [];
    for (const row of rows) {
      const entry = this.load(row);
      if (!entry.task) continue;
      if (row.catch_up === "latest") await this.catchUp(row, entry, now);
      const upcoming = entry.task.getNextRun();
      if (upcoming) next.push({ id: row.id, next: upcoming });
    }
    await recordNextTicks(this.ctx.db.knex, next);
  }

  private load(row: ScheduleRow): Loaded {
    const current = this.loaded.get(row.id);
    if (current && current.cron === row.cron && current.timeZone === row.time_zone) return current;
    if (current) this.unload(row.id, current);
    const entry: Loaded = { cron: row.cron, timeZone: row.time_zone };
    this.loaded.set(row.id, entry);
    try {
      entry.spec = checkCron(row.cron, row.time_zone);
    } catch (error) {
      this.ctx.log(`scheduler: schedule ${row.id} does not run: ${(error as Error).message}`);
      return entry;
    }
    entry.task = cron.createTask(entry.spec.expression, ({ date }) => this.fire(row.id, entry, date), {
      timezone: entry.spec.timeZone,
      name: `bulkrun schedule ${row.id}`,
      logger: this.logger,
      // A tick delayed by a busy event loop still fires (node-cron's default gives up after 1 s).
      missedExecutionTolerance: 60_000,
    });
    void entry.task.start();
    return entry;
  }

  private unload(id: number, entry: Loaded): void {
    void entry.task?.destroy();
    this.loaded.delete(id);
  }

  private async catchUp(row: ScheduleRow, entry: Loaded, now: Date): Promise<void> {
    const since = Math.max(...[row.created_at, row.resumed_at, row.last_fired_at].map((d) => d?.getTime() ?? 0));
    const missed = latestTick(entry.spec!, new Date(since), now);
    if (missed) await this.fire(row.id, entry, missed, "catching up: ");
  }

  private fire(scheduleId: number, entry: Loaded, tickAt: Date, why = ""): Promise<void> {
    const tick = { scheduleId, tickAt, nextFireAt: entry.task?.getNextRun() ?? null, runner: this.runnerId };
    const done = fireSchedule(this.ctx.db.knex, tick).then(
      (actionId) => {
        if (actionId !== null) this.ctx.log(`schedule ${scheduleId}: ${why}tick ${tickAt.toISOString()} started bulk action ${actionId}`);
      },
      (error: Error) => this.ctx.log(`schedule ${scheduleId}: tick ${tickAt.toISOString()} failed: ${error.message}`),
    );
    this.firing.add(done);
    void done.then(() => this.firing.delete(done));
    return done;
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.ctx.db.url, application_name: APPLICATION_NAME });
    client.on("notification", () => this.reloadInBackground());
    client.on("error", (error) => this.relisten(client, error));
    try {
      await client.connect();
      await client.query('listen "bulkrun:schedule"');
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    if (this.stopped) await client.end().catch(() => {});
    else this.listener = client;
  }

  /** A lost listener is replaced, then the schedules are re-read: changes in between went unheard. */
  private relisten(client: pg.Client, error: Error): void {
    if (this.listener !== client || this.stopped) return;
    this.listener = undefined;
    void client.end().catch(() => {});
    this.ctx.log(`scheduler: lost its database listener (${error.message}); reconnecting`);
    const retry = () => {
      if (this.stopped) return;
      this.listen().then(
        () => this.reloadInBackground(),
        () => (this.retry = setTimeout(retry, 1000)),
      );
    };
    this.retry = setTimeout(retry, 1000);
  }
}
