import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { resolveConfig } from "../../runner/config.ts";
import { controlAction } from "../../runner/engine/control.ts";
import { liveRunners, listRunners, startHeartbeat } from "../../runner/engine/heartbeat.ts";
import { recoverDeadRunners } from "../../runner/engine/recovery.ts";
import usersImport from "../../plugins/users-import/index.ts";
import { finished, newAccount } from "../helpers/actions.ts";
import { lines, runCli } from "../helpers/cli.ts";
import {
  assertExactlyOnce,
  assertNoChunkHalfApplied,
  assertNothingLocked,
  backendsOf,
  chunkProgress,
  lockedJobs,
  stageImport,
  useWorkerProcesses,
} from "../helpers/recovery.ts";
import { until } from "../helpers/until.ts";

const f = useWorkerProcesses();

async function addJobs(count: number, lockedBy: string): Promise<number[]> {
  const { rows } = await f.ctx.db.knex.raw<{ rows: { id: number }[] }>(
    "select (graphile_worker.add_job('recovery.test', '{}'::json)).id from generate_series(1, ?)",
    [count],
  );
  const ids = rows.map((r) => r.id);
  await f.ctx.db.knex.raw("update graphile_worker._private_jobs set locked_by = ?, locked_at = now() where id = any(?)", [lockedBy, ids]);
  return ids;
}

async function runner(id: string) {
  const { rows } = await f.ctx.db.knex.raw<{ rows: { dead_at: Date | null; recovered_by: string | null }[] }>(
    "select dead_at, recovered_by from bulkrun_private.runners where id = ?",
    [id],
  );
  return rows[0];
}

describe("liveness settings", () => {
  test("default to a 5 s beat and 30 s to dead, take the environment, and are validated", () => {
    const defaults = resolveConfig({ plugins: [usersImport] });
    assert.deepEqual([defaults.worker.heartbeatMs, defaults.worker.deadAfterMs], [5000, 30_000]);
    const env = resolveConfig({ plugins: [usersImport] }, { BULKRUN_HEARTBEAT_MS: "200", BULKRUN_DEAD_AFTER_MS: "1500", BULKRUN_SHUTDOWN_GRACE_MS: "0" });
    assert.deepEqual([env.worker.heartbeatMs, env.worker.deadAfterMs, env.worker.shutdownGraceMs], [200, 1500, 0]);
    assert.throws(() => resolveConfig({ plugins: [usersImport], worker: { heartbeatMs: 10_000, deadAfterMs: 15_000 } }), {
      code: "BULKRUN_ERR_CONFIG",
      message: /worker\.deadAfterMs \(15000\) must be at least twice worker\.heartbeatMs \(10000\)/,
    });
    assert.throws(() => resolveConfig({ plugins: [usersImport] }, { BULKRUN_HEARTBEAT_MS: "fast" }), {
      code: "BULKRUN_ERR_CONFIG",
      message: /worker\.heartbeatMs \(BULKRUN_HEARTBEAT_MS\) must be a whole number from 100 to 60000/,
    });
  });
});

describe("the sweeper", () => {
  test("of many live runners, exactly one declares a silent runner dead and releases only its jobs", async () => {
    await f.ctx.db.knex.raw(
      `insert into bulkrun_private.runners (id, pid, host, roles, last_beat_at) values
         ('pool-silent', 101, 'lost-host', '{worker}', now() - interval '2 minutes'),
         ('pool-beating', 102, 'live-host', '{worker}', now())`,
    );
    const jobs = [...(await addJobs(3, "pool-silent")), ...(await addJobs(1, "pool-beating"))];
    const sweepers = Array.from({ length: 6 }, (_, i) => `pool-sweeper-${i}`);
    const results = await Promise.all(sweepers.map((self) => recoverDeadRunners(f.ctx.db.knex, self, 30_000)));
    const recovered = results.flat();
    assert.deepEqual(recovered.map((r) => [r.id, r.pid, r.host, r.jobs]), [["pool-silent", 101, "lost-host", 3]]);
    assert.ok(recovered[0]!.silent_ms >= 120_000);
    assert.equal(await lockedJobs(f.ctx, "pool-silent"), 0);
    assert.equal(await lockedJobs(f.ctx, "pool-beating"), 1);
    const silent = await runner("pool-silent");
    assert.ok(silent?.dead_at);
    assert.equal(silent.recovered_by, sweepers[results.findIndex((r) => r.length > 0)]);
    assert.equal((await runner("pool-beating"))?.dead_at, null);
    assert.deepEqual(await recoverDeadRunners(f.ctx.db.knex, "pool-beating", 30_000), [], "a dead runner is recovered once");
    const listed = await listRunners(f.ctx.db.knex, 30_000);
    assert.deepEqual(listed.map((r) => [r.id, r.alive]), [["pool-beating", true], ["pool-silent", false]]);
    await f.ctx.db.knex.raw("delete from graphile_worker._private_jobs where id = any(?)", [jobs]);
    await f.ctx.db.knex.raw("delete from bulkrun_private.runners where id in ('pool-silent', 'pool-beating')");
  });

  test("a runner declared dead that beats again is alive again, and says so", async () => {
    const logged: string[] = [];
    const heartbeat = await startHeartbeat(f.ctx.db.knex, "pool-paused", ["worker"], { intervalMs: 100, log: (line) => logged.push(line) });
    try {
      await f.ctx.db.knex.raw("update bulkrun_private.runners set dead_at = now(), recovered_by = 'pool-other' where id = 'pool-paused'");
      await until("the next beat", async () => (await runner("pool-paused"))?.dead_at === null);
      assert.match(logged.join("\n"), /runner pool-paused missed its beats and was declared dead at .*; its jobs were released to other runners/);
      assert.equal(await liveRunners(f.ctx.db.knex), 1);
    } finally {
      await heartbeat.stop();
    }
    assert.equal(await runner("pool-paused"), undefined, "a clean stop removes the row");
  });
});

describe("kill -9", () => {
  test("a worker killed mid-import loses nothing and applies nothing twice: another takes over its chunks within seconds", async () => {
    const env = { BULKRUN_HEARTBEAT_MS: "200", BULKRUN_DEAD_AFTER_MS: "1500", BULKRUN_CONCURRENCY: "4" };
    const account = await newAccount(f.ctx);
    const { action, expectedUsers } = await stageImport(f.ctx, account.id, 200_000, 2000);

    const doomed = await f.start(env);
    await until("some chunks done and some running", async () => {
      const progress = await chunkProgress(f.ctx, action.id);
      return progress.done >= 10 && (await lockedJobs(f.ctx, doomed.poolId)) > 0;
    });
    doomed.child.kill("SIGKILL");
    const killedAt = Date.now();
    assert.equal((await doomed.result).code, null);
    // A statement the worker sent just before it died (a job's completion) still runs to its end.
    await until("the killed worker's connections closed", async () => (await backendsOf(f.ctx, doomed.pid)).length === 0);
    const held = await lockedJobs(f.ctx, doomed.poolId);
    const progress = await chunkProgress(f.ctx, action.id);
    assert.ok(held > 0, "the killed worker held jobs");
    assert.ok(progress.done < progress.total, "the import was not finished when the worker died");
    await assertNoChunkHalfApplied(f.ctx, action.id, account.id);

    const survivor = await f.start(env);
    const released = new RegExp(`runner ${doomed.poolId} \\(pid ${doomed.pid} on \\S+\\) missed its beats for [\\d.]+ s: declared dead, ${held} locked jobs? released`);
    await until("the dead worker's jobs released", async () => released.test(survivor.stderr())).catch((error: Error) => {
      throw new Error(`${error.message}; expected ${released}, the survivor said:\n${survivor.stderr()}`);
    });
    const recoveredAfter = Date.now() - killedAt;
    const done = await finished(f.ctx, action.id, 60_000);
    const completedAfter = Date.now() - killedAt;
    assert.equal(done.status, "completed");
    await assertExactlyOnce(f.ctx, action.id, account.id, expectedUsers);
    await assertNothingLocked(f.ctx);
    const { rows } = await f.ctx.db.knex.raw("select count(*)::int as n from graphile_worker.jobs where task_identifier = 'bulkrun.chunk'");
    assert.equal(rows[0].n, 0, "chunk jobs left in the queue");

    const status = await runCli(["status"], { databaseUrl: f.ctx.url });
    assert.equal(status.code, 0, status.stderr);
    const runners = lines(status.stdout).filter((line) => line.startsWith("pool-"));
    assert.ok(runners.some((line) => line.startsWith(`${survivor.poolId}\t${survivor.pid}\t`) && line.endsWith("\talive")), status.stdout);
    assert.ok(
      runners.some((line) => line.startsWith(`${doomed.poolId}\t${doomed.pid}\t`) && line.endsWith(`\tdead (jobs released by ${survivor.poolId})`)),
      status.stdout,
    );

    survivor.child.kill("SIGTERM");
    assert.equal((await survivor.result).code, 0);
    console.error(`kill -9: ${held} jobs released ${recoveredAfter} ms after the kill; action completed ${completedAfter} ms after it`);
  });

  test("a worker killed during its chunks' last attempt: those chunks fail (their rows kept for retry) and the action ends, not stuck running", async () => {
    const env = { BULKRUN_HEARTBEAT_MS: "200", BULKRUN_DEAD_AFTER_MS: "1500", BULKRUN_CONCURRENCY: "2", BULKRUN_CHUNK_ATTEMPTS: "1" };
    const account = await newAccount(f.ctx);
    const { action, expectedUsers } = await stageImport(f.ctx, account.id, 40_000, 2000);
    const doomed = await f.start(env);
    await until("a chunk done and some running", async () => (await chunkProgress(f.ctx, action.id)).done >= 1 && (await lockedJobs(f.ctx, doomed.poolId)) > 0);
    doomed.child.kill("SIGKILL");
    await doomed.result;
    await until("the killed worker's connections closed", async () => (await backendsOf(f.ctx, doomed.pid)).length === 0);
    // A chunk that committed just before the kill, its job not yet marked completed, is done.
    const { rows: running } = await f.ctx.db.knex.raw(
      `select c.id, c.rows from bulkrun.bulk_action_chunks c join graphile_worker.jobs j on j.key = 'bulkrun.chunk:' || c.id
        where c.action_id = ? and j.locked_by = ? and c.status = 'pending' order by c.id`,
      [action.id, doomed.poolId],
    );
    assert.ok(running.length > 0, "the killed worker held chunks");

    const survivor = await f.start(env);
    const done = await finished(f.ctx, action.id, 60_000);
    assert.deepEqual([done.status, done.error_code], ["failed", "BULKRUN_ERR_CHUNK_FAILED"]);
    const { rows: failed } = await f.ctx.db.knex.raw("select id, error from bulkrun.bulk_action_chunks where action_id = ? and status = 'failed' order by id", [action.id]);
    assert.deepEqual(failed.map((c: { id: number }) => c.id), running.map((c: { id: number }) => c.id));
    assert.match(failed[0].error, /failed on every attempt: the runner running its last attempt \(of 1\) stopped before finishing it/);
    const { rows: [ledger] } = await f.ctx.db.knex.raw(
      "select count(*) filter (where outcome = 'chunk_failed')::int as chunk_failed, count(*) filter (where status = 'pending')::int as pending from bulkrun.bulk_action_items where action_id = ?",
      [action.id],
    );
    assert.deepEqual(ledger, { chunk_failed: running.reduce((n: number, c: { rows: number }) => n + c.rows, 0), pending: 0 });
    assert.match(survivor.stderr(), new RegExp(`chunk ${running[0].id}: its runner stopped during its last attempt; its rows are marked chunk_failed`));
    assert.equal(await lockedJobs(f.ctx), 0);

    const retried = await finished(f.ctx, (await controlAction(f.ctx.db.knex, "retry", action.id)).id, 60_000);
    assert.equal(retried.status, "completed");
    const { rows: [{ n }] } = await f.ctx.db.knex.raw("select count(*)::int as n from bulkrun.users where account_id = ?", [account.id]);
    assert.equal(n, expectedUsers);
    survivor.child.kill("SIGTERM");
    assert.equal((await survivor.result).code, 0);
  });
});
