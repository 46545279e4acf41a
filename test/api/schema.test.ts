import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { after, before, test } from "node:test";
import { schemaSdl } from "../../runner/api/schema-sdl.ts";
import { submitCsv } from "../helpers/actions.ts";
import { apiFixture, type ApiFixture } from "./client.ts";

let f: ApiFixture;

before(async () => {
  f = await apiFixture();
});
after(() => f.close());

test("schema.graphql is the API's schema (after a change, regenerate it with `npm run schema`)", async () => {
  const committed = await readFile(resolve(import.meta.dirname, "../../schema.graphql"), "utf8");
  assert.ok(committed === (await schemaSdl(f.ctx)), "schema.graphql is out of date: run `npm run schema` and commit the result");
});

const INTROSPECTION = `{
  __schema {
    types {
      name kind
      fields { name args { name } }
      inputFields { name }
      enumValues { name }
    }
  }
}`;

test("introspection, even with an admin token, shows no private table, column or function", async () => {
  const result = await f.gql(f.adminToken, INTROSPECTION);
  const types = result.data.__schema.types as {
    name: string;
    fields: { name: string; args: { name: string }[] }[] | null;
    inputFields: { name: string }[] | null;
    enumValues: { name: string }[] | null;
  }[];
  const names = types.flatMap((t) => [
    t.name,
    ...(t.fields ?? []).flatMap((field) => [`${t.name}.${field.name}`, ...field.args.map((a) => `${t.name}.${field.name}(${a.name})`)]),
    ...(t.inputFields ?? []).map((field) => `${t.name}.${field.name}`),
    ...(t.enumValues ?? []).map((value) => `${t.name}.${value.name}`),
  ]);
  assert.ok(names.length > 500, "the walk saw the whole schema");
  const PRIVATE = /token|secret|hash|password|deliver|rateBucket|RATE_BUCKET|tick|migration|heartbeat|jobs?\b|graphile|takeTokens|followUp|transition|visibleAction|enqueue|notify|fireSchedule|accountQuota|reschedule|cancelScheduled/i;
  assert.deepEqual(names.filter((n) => PRIVATE.test(n)), []);
  const item = types.find((t) => t.name === "BulkActionItem")!;
  assert.deepEqual(item.fields!.map((field) => field.name).filter((n) => n === "key"), []);
  assert.deepEqual(types.filter((t) => /^(ApiToken|WebhookSecret|WebhookDelivery|RateBucket|ScheduleTick|Runner)$/.test(t.name)), []);
});

test("/healthz checks the database; /metrics is Prometheus text for an admin token only", async () => {
  const health = await fetch(`${f.api.url}/healthz`);
  assert.deepEqual([health.status, await health.json()], [200, { status: "ok", database: "ok" }]);

  await submitCsv(f.ctx, { accountId: f.a.id }, "email\nm@example.com\n");
  const refused = await fetch(`${f.api.url}/metrics`, { headers: { authorization: `Bearer ${f.a.token}` } });
  assert.equal(refused.status, 403);
  const metrics = await fetch(`${f.api.url}/metrics`, { headers: { authorization: `Bearer ${f.adminToken}` } });
  assert.equal(metrics.status, 200);
  assert.match(metrics.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const text = await metrics.text();
  assert.match(text, /^# TYPE bulkrun_rows_applied_total counter$/m);
  assert.match(text, new RegExp(`^bulkrun_actions\\{account="${f.a.name}",status="queued"\\} 1$`, "m"));
  assert.match(text, /^bulkrun_queue_depth\{task="bulkrun.prepare"\} 1$/m);
  assert.match(text, /^bulkrun_runners_alive 0$/m);
});

test("an unknown path is 404 and Ruru is served at /graphiql", async () => {
  assert.equal((await fetch(`${f.api.url}/nope`)).status, 404);
  const ruru = await fetch(`${f.api.url}/graphiql`, { headers: { accept: "text/html" } });
  assert.equal(ruru.status, 200);
  assert.match(await ruru.text(), /ruru/i);
});
