import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import cron from "node-cron";
import { openDatabase } from "../../runner/db/database.ts";
import type { EngineContext } from "../../runner/engine/context.ts";
import { checkCron, latestTick } from "../../runner/engine/cron.ts";
import { EngineEvents } from "../../runner/engine/events.ts";
import { createSchedule, fireSchedule, removeSchedule, setScheduleEnabled, type ScheduleRequest } from "../../runner/engine/schedules.ts";
import { startScheduler, type Scheduler } from "../../runner/scheduler.ts";
import { newAccount } from "../helpers/actions.ts";
import { testRuntime, type TestRuntime } from "../helpers/runtime.ts";
import { until } from "../helpers/until.ts";

let ctx: TestRuntime;
/** A second runner's view of the same database: its own connection pool. */
let other: EngineContext;
const logs: string[] = [];

before(async () => {
  ctx = await testRuntime();
  const db = await openDatabase(ctx.config, { poolSize: 4 });
  other = { db, config: ctx.config, events: new EngineEvents(), log: (line) => logs.push(line) };
});
after(async () => {
  await other?.db.close();
  await ctx?.close();
});

/** Two schedulers, as two runner processes would run them, each on its own pool. */
async function twoSchedulers(): Promise<[Scheduler, Scheduler]> {
  return Promise.all([
    startScheduler({ ...ctx, log: (line) => logs.push(line) }, { runnerId: "runner-a" }),
    startScheduler(other, { runnerId: "runner-b" }),
  ]);
}

// No worker runs in this file: the actions ticks start stay queued, to be counted.
function schedule(accountId: number, cronExpression: string, extra: Partial<ScheduleRequest> = {}) {
  return createSchedule(ctx, { accountId, cron: cronExpression, type: "users.import", source: { url: "http://127.0.0.1:9/users.csv" }, ...extra });
}

async function claims(scheduleId: number) {
  const { rows } = await ctx.db.knex.raw<{ rows: { tick_at: Date; action_id: number; claimed_by: string }[] }>(
    "select tick_at, action_id, claimed_by from bulkrun_private.schedule_ticks where schedule_id = ? order by tick_at",
    [scheduleId],
  );
  return rows;
}

async function actionsOf(accountId: number) {
  const { rows } = await ctx.db.knex.raw<{ rows: { id: number; schedule_id: number | null; status: string }[] }>(
    "select id, schedule_id, status from bulkrun.bulk_actions where account_id = ? order by id",
    [accountId],
  );
  return rows;
}


describe("ticks across runners", () => {
  test("two schedulers on one database start exactly one action per tick of an every-second cron", async () => {
    const account = await newAccount(ctx);
    const every = await schedule(account.id, "* * * * * *");
    const schedulers = await twoSchedulers();
    const started = Date.now();
    await sleep(3200);
    await Promise.all(schedulers.map((s) => s.stop()));
    const stopped = Date.now();

    const ticks = await claims(every.id);
    const actions = await actionsOf(account.id);
    const seconds = ticks.map((t) => t.tick_at.getTime() / 1000);
    assert.ok(seconds.every(Number.isInteger), `ticks fall on whole seconds: ${seconds}`);
    assert.deepEqual(seconds, seconds.map((_, i) => seconds[0]! + i), "one claim for every second, none skipped");
    for (let s = Math.ceil(started / 1000); s * 1000 < stopped - 500; s++) assert.ok(seconds.includes(s), `tick ${s} fired`);
    assert.ok(ticks.length >= 3 && ticks.length <= 5, `${ticks.length} ticks in ${stopped - started} ms`);
    assert.deepEqual(actions.map((a) => a.id), ticks.map((t) => t.action_id), "each tick has its own action");
    assert.ok(actions.every((a) => a.schedule_id === every.id && a.status === "queued"));
    assert.ok(ticks.every((t) => ["runner-a", "runner-b"].includes(t.claimed_by)));
    const { rows } = await ctx.db.knex.raw("select last_fired_at from bulkrun.schedules where id = ?", [every.id]);
    assert.deepEqual(rows[0].last_fired_at, ticks.at(-1)!.tick_at);
  });

  test("sixteen racing fires of one tick from two pools start one action; an older tick is refused afterwards", async () => {
    const account = await newAccount(ctx);
    const yearly = await schedule(account.id, "0 0 1 1 *");
    const tickAt = new Date(Math.floor(Date.now() / 1000) * 1000);
    const results = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        fireSchedule((i % 2 ? other : ctx).db.knex, { scheduleId: yearly.id, tickAt, nextFireAt: null, runner: `runner-${i}` }),
      ),
    );
    const winners = results.filter((id) => id !== null);
    assert.equal(winners.length, 1);
    assert.deepEqual((await actionsOf(account.id)).map((a) => a.id), winners);
    const older = await fireSchedule(ctx.db.knex, { scheduleId: yearly.id, tickAt: new Date(tickAt.getTime() - 60_000), nextFireAt: null, runner: "late" });
    assert.equal(older, null);
    assert.equal((await actionsOf(account.id)).length, 1);
  });

  test("pause, resume and rm reach running schedulers at once; ticks while paused are not caught up", async () => {
    const account = await newAccount(ctx);
    const every = await schedule(account.id, "* * * * * *", { catchUp: "latest" });
    const schedulers = await twoSchedulers();
    try {
      await until("a claim of the schedule", async () => (await claims(every.id)).length >= 1);

      await setScheduleEnabled(ctx.db.knex, every.id, false);
      const pausedAt = Date.now();
      await sleep(2000);
      assert.deepEqual((await claims(every.id)).filter((t) => t.tick_at.getTime() > pausedAt), [], "no tick after the pause");

      await setScheduleEnabled(ctx.db.knex, every.id, true);
      const resumedAt = Date.now();
      await sleep(2000);
      const sincePause = (await claims(every.id)).filter((t) => t.tick_at.getTime() > pausedAt);
      assert.ok(sincePause.length >= 1, "ticks again after the resume");
      assert.ok(sincePause[0]!.tick_at.getTime() > resumedAt - 1000, "the paused seconds were not caught up");

      const before = await actionsOf(account.id);
      await removeSchedule(ctx.db.knex, every.id);
      await sleep(1500);
      const afterRemoval = await actionsOf(account.id);
      assert.deepEqual(afterRemoval.map((a) => a.id), before.map((a) => a.id), "no action after rm");
      assert.ok(afterRemoval.every((a) => a.schedule_id === null), "the actions stay, without their schedule");
    } finally {
      await Promise.all(schedulers.map((s) => s.stop()));
    }
  });
});

describe("a scheduler whose listening connection is cut", () => {
  test("reconnects, says so, and runs a schedule added meanwhile", async () => {
    const seen: string[] = [];
    const scheduler = await startScheduler({ ...ctx, log: (line) => seen.push(line) }, { runnerId: "runner-a" });
    try {
      const { rows } = await ctx.db.knex.raw(
        `select pg_terminate_backend(pid) as terminated from pg_stat_activity
          where datname = current_database() and query = 'listen "bulkrun:schedule"'`,
      );
      assert.deepEqual(rows, [{ terminated: true }]);
      const account = await newAccount(ctx);
      await schedule(account.id, "* * * * * *");
      await until("an action of the schedule", async () => (await actionsOf(account.id)).length > 0, 5000);
      assert.ok(seen.some((line) => /^scheduler: lost its database listener \(.+\); reconnecting$/.test(line)), seen.join("\n"));
    } finally {
      await scheduler.stop();
    }
  });
});

describe("catch-up of ticks missed while no runner was up", () => {
  /** The most recent 02:30 in Kathmandu (UTC+05:45), as Postgres computes it. */
  async function last0230Kathmandu(): Promise<Date> {
    const { rows } = await ctx.db.knex.raw(`
      select case when t > now() then t - interval '1 day' else t end as tick
        from (select (date_trunc('day', now() at time zone 'Asia/Kathmandu') + interval '2 hours 30 minutes')
                     at time zone 'Asia/Kathmandu' as t) x`);
    return rows[0].tick;
  }

  async function downtime(scheduleIds: number[]): Promise<void> {
    await ctx.db.knex.raw(
      "update bulkrun.schedules set created_at = now() - interval '3 days', last_fired_at = now() - interval '2 days' where id = any(?)",
      [scheduleIds],
    );
  }

  test("latest fires once for the most recent missed tick, none skips them, and a second start fires nothing more", async () => {
    const account = await newAccount(ctx);
    const daily = { cron: "0 30 2 * * *", timeZone: "Asia/Kathmandu" };
    const latest = await schedule(account.id, daily.cron, { timeZone: daily.timeZone, catchUp: "latest" });
    const none = await schedule(account.id, daily.cron, { timeZone: daily.timeZone, catchUp: "none" });
    await downtime([latest.id, none.id]);
    const { rows: before } = await ctx.db.knex.raw("select id, last_fired_at from bulkrun.schedules where id = ?", [none.id]);

    await (await startScheduler({ ...ctx, log: (line) => logs.push(line) }, { runnerId: "runner-a" })).stop();
    const expected = await last0230Kathmandu();
    assert.deepEqual((await claims(latest.id)).map((t) => t.tick_at), [expected]);
    assert.deepEqual((await claims(none.id)).map((t) => t.tick_at), []);
    const actions = await actionsOf(account.id);
    assert.deepEqual(actions.map((a) => a.schedule_id), [latest.id]);
    const { rows: after } = await ctx.db.knex.raw("select id, last_fired_at from bulkrun.schedules where id = any(?) order by id", [[latest.id, none.id]]);
    assert.deepEqual(after.map((r: { last_fired_at: Date }) => r.last_fired_at), [expected, before[0].last_fired_at]);

    await (await startScheduler(other, { runnerId: "runner-b" })).stop();
    assert.equal((await actionsOf(account.id)).length, 1, "a restart finds the tick fired");
  });

  test("a schedule inserted with SQL while schedulers run is loaded on the notification and caught up once", async () => {
    const account = await newAccount(ctx);
    const schedulers = await twoSchedulers();
    try {
      const { rows } = await ctx.db.knex.raw(
        `insert into bulkrun.schedules (account_id, cron, type, source, catch_up, created_at)
         values (?, '0 0 * * * *', 'users.import', '{"url": "http://127.0.0.1:9/users.csv"}', 'latest', now() - interval '1 day')
         returning id, date_trunc('hour', now()) as hour`,
        [account.id],
      );
      await until("an action of the schedule", async () => (await actionsOf(account.id)).length > 0, 5000);
      await sleep(500);
      assert.deepEqual((await claims(rows[0].id)).map((t) => t.tick_at), [rows[0].hour]);
      assert.equal((await actionsOf(account.id)).length, 1);
    } finally {
      await Promise.all(schedulers.map((s) => s.stop()));
    }
  });
});

describe("latestTick", () => {
  /** Every instant a 5-field cron fires on is a whole minute (time-zone offsets are whole minutes too). */
  function byBruteForce(expression: string, timeZone: string, after: Date, until: Date): Date | undefined {
    const task = cron.createTask(expression, () => {}, { timezone: timeZone });
    try {
      for (let t = Math.floor(until.getTime() / 60_000) * 60_000; t > after.getTime(); t -= 60_000) {
        if (task.match(new Date(t))) return new Date(t);
      }
      return undefined;
    } finally {
      void task.destroy();
    }
  }

  const cases: [string, string, string, number][] = [
    ["30 2 * * *", "Europe/Berlin", "2026-03-30T12:00:00Z", 3],
    ["30 2 * * *", "Europe/Berlin", "2026-10-25T12:00:00Z", 3],
    ["*/7 * * * *", "Europe/Berlin", "2026-03-29T01:20:00Z", 0.25],
    ["*/7 * * * *", "Europe/Berlin", "2026-10-25T01:20:00Z", 0.25],
    ["15 2 * * *", "America/New_York", "2026-03-09T09:00:00Z", 3],
    ["0 2 * * *", "Australia/Lord_Howe", "2026-10-04T12:00:00Z", 3],
    ["*/30 * * * *", "Australia/Lord_Howe", "2026-10-03T16:10:00Z", 0.2],
    ["*/30 * * * *", "Australia/Lord_Howe", "2026-04-04T16:10:00Z", 0.2],
    ["0 0 * * 1", "Asia/Kathmandu", "2026-12-03T18:00:00Z", 10],
    ["0 0 L * *", "UTC", "2026-12-03T18:00:00Z", 40],
    ["0 0 29 2 *", "UTC", "2026-12-03T18:00:00Z", 3],
  ];
  for (const [expression, timeZone, untilIso, days] of cases) {
    test(`\`${expression}\` in ${timeZone} before ${untilIso}, over ${days} days, agrees with a minute-by-minute search`, () => {
      const until = new Date(untilIso);
      const after = new Date(until.getTime() - days * 86_400_000);
      assert.deepEqual(latestTick(checkCron(expression, timeZone), after, until), byBruteForce(expression, timeZone, after, until));
    });
  }

  test("six fields: the latest whole second of an every-second cron, and nothing in an empty window", () => {
    const spec = checkCron("* * * * * *", "UTC");
    assert.deepEqual(latestTick(spec, new Date("2026-12-03T17:59:50Z"), new Date("2026-12-03T18:00:00.700Z")), new Date("2026-12-03T18:00:00Z"));
    assert.equal(latestTick(spec, new Date("2026-12-03T18:00:00Z"), new Date("2026-12-03T18:00:00.700Z")), undefined);
  });
});
