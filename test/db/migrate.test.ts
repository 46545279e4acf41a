import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { resolve } from "node:path";
import { after, before, test } from "node:test";
import pg from "pg";
import { guardPool } from "../../runner/db/database.ts";
import { migrate } from "../../runner/db/migrate.ts";
import usersImport from "../../plugins/users-import/index.ts";
import { testServer, withDatabase } from "../helpers/server.ts";

let serverUrl: string;
const name = `bulkrun_migrate_${randomBytes(4).toString("hex")}`;

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  await client.query(sql);
  await client.end();
}

before(async () => {
  serverUrl = (await testServer()).url;
  await admin(`create database ${name}`);
});
after(() => admin(`drop database if exists ${name} with (force)`));

test("two processes migrating one empty database at once apply every migration exactly once; plugins' own too", async () => {
  const pools = [1, 2].map(() => guardPool(new pg.Pool({ connectionString: withDatabase(serverUrl, name), max: 2 }), () => {}));
  try {
    const results = await Promise.all(pools.map((pool) => migrate(pool)));
    const files = (await readdir(resolve(import.meta.dirname, "../../sql"))).filter((f) => f.endsWith(".sql")).sort();
    assert.deepEqual([...results[0]!.applied, ...results[1]!.applied].sort(), files);
    const { rows } = await pools[0]!.query("select name from bulkrun_private.migrations order by id");
    assert.deepEqual(rows.map((r) => r.name), files);
    const again = await migrate(pools[0]!);
    assert.deepEqual(again.applied, []);
    const { rows: jobs } = await pools[0]!.query("select to_regclass('graphile_worker.jobs') is not null as installed");
    assert.equal(jobs[0].installed, true);
    const plugin = { ...usersImport, name: "tags.example", migrations: resolve(import.meta.dirname, "../fixtures/plugin-sql") };
    assert.deepEqual((await migrate(pools[0]!, [plugin])).applied, ["tags.example/000001_user_tags.sql"]);
    assert.deepEqual((await migrate(pools[1]!, [plugin])).applied, []);
    const { rows: tables } = await pools[0]!.query("select to_regclass('bulkrun.user_tags') is not null as created");
    assert.equal(tables[0].created, true);
  } finally {
    await Promise.all(pools.map((pool) => pool.end()));
  }
});
