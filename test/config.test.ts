import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { loadConfig, resolveConfig } from "../runner/config.ts";
import { validateOptions } from "../runner/engine/options.ts";
import usersImport from "../plugins/users-import/index.ts";

describe("configuration", () => {
  test("the project's runner.config.ts loads with its plugins and defaults", async () => {
    const config = await loadConfig({});
    assert.deepEqual([...config.plugins.keys()], ["users.import", "users.update", "users.delete", "users.anonymize"]);
    assert.equal(config.chunkSize, 10_000);
    assert.equal(config.database.url, undefined);
    assert.match(config.database.dataDir, /\.bulkrun\/pgdata$/);
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.worker));
  });

  test("the environment overrides the file", () => {
    const config = resolveConfig({ plugins: [usersImport] }, { DATABASE_URL: "postgres://db/x", BULKRUN_CONCURRENCY: "6", BULKRUN_CHUNK_SIZE: "250" });
    assert.equal(config.database.url, "postgres://db/x");
    assert.equal(config.worker.concurrency, 6);
    assert.equal(config.chunkSize, 250);
  });

  test("bad values are named with their range", () => {
    assert.throws(() => resolveConfig({ plugins: [usersImport] }, { BULKRUN_CONCURRENCY: "lots" }), {
      code: "BULKRUN_ERR_CONFIG",
      message: 'worker.concurrency (BULKRUN_CONCURRENCY) must be a whole number from 1 to 64 (got "lots")',
    });
    assert.throws(() => resolveConfig({ plugins: [usersImport], chunkSize: 0 }), { code: "BULKRUN_ERR_CONFIG", message: /chunkSize .* from 1 to 100000/ });
  });

  test("plugins must be unique and made by defineAction", () => {
    assert.throws(() => resolveConfig({ plugins: [usersImport, usersImport] }), { message: /two plugins are named `users.import`/ });
    assert.throws(() => resolveConfig({ plugins: [{} as never] }), { message: /made by defineAction/ });
    assert.throws(() => resolveConfig({} as never), { code: "BULKRUN_ERR_CONFIG" });
    const { chunkQuery: _, ...neither } = usersImport;
    assert.throws(() => resolveConfig({ plugins: [neither as never] }), {
      code: "BULKRUN_ERR_CONFIG",
      message: "plugin `users.import` must define exactly one of processChunk and chunkQuery",
    });
  });

  test("a missing config file is a clear error", async () => {
    await assert.rejects(loadConfig({ BULKRUN_CONFIG: "/nonexistent/runner.config.ts" }), {
      code: "BULKRUN_ERR_CONFIG",
      message: /cannot load the configuration \/nonexistent\/runner.config.ts/,
    });
  });
});

describe("action options", () => {
  test("defaults are filled in", () => {
    assert.deepEqual(validateOptions("users.import", usersImport.options, {}), { on_conflict: "update" });
  });

  test("every problem is reported at once, each with a fix", () => {
    assert.throws(() => validateOptions("users.import", usersImport.options, { on_conflit: "skip", on_conflict: "skp", extra: 1 }), {
      code: "BULKRUN_ERR_OPTIONS",
      message:
        "users.import: unknown option `on_conflit`, did you mean `on_conflict`?; unknown option `extra` (allowed: `on_conflict`); " +
        'option `on_conflict` must be one of `update`, `skip`; did you mean `skip`? (got "skp")',
    });
  });

  test("options must be an object", () => {
    assert.throws(() => validateOptions("users.import", usersImport.options, [1]), { message: "options of users.import must be a JSON object" });
  });
});
