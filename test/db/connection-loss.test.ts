import assert from "node:assert/strict";
import { test } from "node:test";
import { liveRunners } from "../../runner/engine/heartbeat.ts";
import { finished, newAccount, submitCsv } from "../helpers/actions.ts";
import { lines, runCli } from "../helpers/cli.ts";
import {
  assertExactlyOnce,
  assertNothingLocked,
  backendsOf,
  chunkProgress,
  stageImport,
  type WorkerProcess,
  useWorkerProcesses,
} from "../helpers/recovery.ts";
import { until } from "../helpers/until.ts";

const f = useWorkerProcesses();
let worker: WorkerProcess;

const startWorker = () => f.start({ BULKRUN_HEARTBEAT_MS: "200", BULKRUN_DEAD_AFTER_MS: "2000" });

/** Waits for the action to end; a timeout shows what the worker printed. */
async function finishedOrLog(actionId: number, timeoutMs: number) {
  return finished(f.ctx, actionId, timeoutMs).catch((error: Error) => {
    throw new Error(`${error.message}; the worker printed:\n${worker.stderr()}`);
  });
}

/** What a Postgres restart looks like to a client: every connection of the process dropped. */
async function dropConnections(pid: number): Promise<number> {
  const { rows } = await f.ctx.db.knex.raw<{ rows: { n: number }[] }>(
    `select count(*) filter (where pg_terminate_backend(pid))::int as n from pg_stat_activity
      where application_name like ? and datname = current_database()`,
    [`bulkrun ${pid} %`],
  );
  return rows[0]!.n;
}

test("connections dropped under a running worker are logged, the runner keeps going, and the action completes exactly once", async () => {
  const account = await newAccount(f.ctx);
  const { action, expectedUsers } = await stageImport(f.ctx, account.id, 60_000, 1000);
  worker = await startWorker();
  const { pid } = worker;

  await until("some chunks done", async () => (await chunkProgress(f.ctx, action.id)).done >= 5).catch((error: Error) => {
    throw new Error(`${error.message}; the worker printed:\n${worker.stderr()}`);
  });
  const first = await dropConnections(pid);
  await until("more chunks done", async () => (await chunkProgress(f.ctx, action.id)).done >= 25);
  const second = await dropConnections(pid);
  assert.ok(first >= 2 && second >= 2, `dropped ${first} and ${second} connections`);

  assert.equal((await finishedOrLog(action.id, 60_000)).status, "completed");
  await assertExactlyOnce(f.ctx, action.id, account.id, expectedUsers);
  await assertNothingLocked(f.ctx);
  assert.equal(worker.child.exitCode, null, `the runner is still running; it printed:\n${worker.stderr()}`);
  assert.match(worker.stderr(), /database connection (lost|error): terminating connection due to administrator command/);

  await until("LISTEN again", async () => (await backendsOf(f.ctx, pid)).some((b) => b.query.startsWith("LISTEN")));
  assert.ok((await liveRunners(f.ctx.db.knex)) >= 1, "its heartbeat kept it alive");
  const later = await submitCsv(f.ctx, { accountId: account.id }, "email\nafter-restart@example.com\n");
  assert.equal((await finished(f.ctx, later.id, 10_000)).status, "completed");

  worker.child.kill("SIGTERM");
  const result = await worker.result;
  assert.equal(result.code, 0, result.stderr);
  const restarts = result.stderr.match(/took over from/g)?.length ?? 0;
  console.error(`dropped ${first} then ${second} connections; worker pool replaced ${restarts} time(s)`);
});

test("a worker pool that gives up (it could not mark a job completed) is replaced in place, and the action completes exactly once", async () => {
  worker = await startWorker();
  const first = worker.poolId;
  // The first attempt to mark jobs completed fails, as when its connection is cut at that moment.
  await f.ctx.db.knex.raw(`
    create sequence fail_once;
    create function fail_once() returns trigger language plpgsql as $$
    begin
      if nextval('fail_once') = 1 then raise exception 'injected failure'; end if;
      return null;
    end $$;
    create trigger fail_once before delete on graphile_worker._private_jobs execute function fail_once();`);
  try {
    const account = await newAccount(f.ctx);
    const emails = Array.from({ length: 30 }, (_, i) => `replaced${i}@example.com`);
    const action = await submitCsv(f.ctx, { accountId: account.id, chunkSize: 10 }, `email\n${emails.join("\n")}\n`);
    const tookOver = /worker pool (\S+) took over from (\S+) \((\d+) locked job\(s\) released\)/;
    await until("a new pool", async () => tookOver.test(worker.stderr())).catch((error: Error) => {
      throw new Error(`${error.message}; the worker printed:\n${worker.stderr()}`);
    });
    const [, second, from, released] = tookOver.exec(worker.stderr())!;
    assert.equal(from, first);
    assert.notEqual(second, first);
    assert.ok(Number(released) >= 1, "the jobs it could not mark completed are released");
    assert.match(worker.stderr(), new RegExp(`worker pool ${first} stopped: injected failure; starting a new one`));

    assert.equal((await finishedOrLog(action.id, 30_000)).status, "completed");
    await assertExactlyOnce(f.ctx, action.id, account.id, emails.length);
    await assertNothingLocked(f.ctx);
    assert.equal(worker.child.exitCode, null, "the runner is still running");
    const status = await runCli(["status"], { databaseUrl: f.ctx.url });
    const runners = lines(status.stdout);
    assert.ok(runners.some((line) => line.startsWith(`${second}\t${worker.pid}\t`) && line.endsWith("\talive")), status.stdout);
    assert.ok(runners.some((line) => line.startsWith(`${first}\t${worker.pid}\t`) && line.endsWith(`\tdead (jobs released by ${first})`)), status.stdout);
  } finally {
    await f.ctx.db.knex.raw("drop trigger fail_once on graphile_worker._private_jobs; drop function fail_once(); drop sequence fail_once;");
  }
  worker.child.kill("SIGTERM");
  const result = await worker.result;
  assert.equal(result.code, 0, result.stderr);
});
