import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { applyFilter, parseFilter, type Filter, type FilterFields } from "../../runner/engine/filter.ts";
import { newAccount } from "../helpers/actions.ts";
import { testRuntime, type TestRuntime } from "../helpers/runtime.ts";

const fields: FilterFields = {
  id: { column: "id", type: "id" },
  email: { column: "email", type: "text" },
  name: { column: "name", type: "text" },
  status: { column: "status", type: "text" },
  createdAt: { column: "created_at", type: "timestamp" },
};

const people = [
  { email: "ada@example.com", name: "Ada Lovelace", status: "active", created_at: "2024-01-01T00:00:00Z" },
  { email: "Bob@Old.Example", name: "Bob", status: "active", created_at: "2024-02-01T12:00:00Z" },
  { email: "cy@old.example", name: null, status: "inactive", created_at: "2024-03-01T00:00:00Z" },
  { email: "dee@example.com", name: "50% off", status: "active", created_at: "2024-03-01T00:00:00.5Z" },
  { email: "eve@example.com", name: "50 percent off", status: "inactive", created_at: "2024-04-15T08:30:00+02:00" },
  { email: "fay@example.com", name: "a_b", status: "active", created_at: "2024-05-01T00:00:00Z" },
  { email: "gus@example.com", name: "axb", status: "active", created_at: "2024-05-01T00:00:00Z" },
  { email: "hal@example.com", name: "back\\slash", status: "active", created_at: "2024-05-01T00:00:00Z" },
  { email: "ivy@example.com", name: "backslash", status: "active", created_at: "2024-05-01T00:00:00Z" },
];
const everyone = people.map((p) => p.email);

let ctx: TestRuntime;
let accountId: number;
let ids: Record<string, number>;

before(async () => {
  ctx = await testRuntime();
  accountId = (await newAccount(ctx)).id;
  const other = await newAccount(ctx);
  const rows: { id: number; email: string }[] = await ctx.db
    .knex("bulkrun.users")
    .insert(people.map((p) => ({ account_id: accountId, ...p })))
    .returning(["id", "email"]);
  ids = Object.fromEntries(rows.map((r) => [r.email, r.id]));
  await ctx.db.knex("bulkrun.users").insert({ account_id: other.id, email: "ada@other.example", name: "Ada", status: "active" });
});
after(() => ctx.close());

/** The emails of the account's users that `filter` selects, in insertion order. */
async function select(filter: unknown): Promise<string[]> {
  const query = ctx.db.knex("bulkrun.users").where("account_id", accountId);
  return applyFilter(query, parseFilter(filter, fields), fields).orderBy("id").pluck("email");
}

async function usersTable() {
  const { rows } = await ctx.db.knex.raw<{ rows: { exists: boolean; count: number }[] }>(
    "select to_regclass('bulkrun.users') is not null as exists, (select count(*)::int from bulkrun.users) as count",
  );
  return rows[0];
}

function rejects(filter: unknown, message: string) {
  assert.throws(() => parseFilter(filter, fields), { name: "BulkrunError", code: "BULKRUN_ERR_FILTER", message });
}

const FIELDS_HINT = "(fields: `id`, `email`, `name`, `status`, `createdAt`; combine filters with `and`, `or`, `not`)";
const TEXT_OPS = "(allowed: `eq`, `neq`, `in`, `contains`, `startsWith`, `endsWith`, `isNull`)";
const TIMESTAMP_HINT = 'must be an ISO 8601 timestamp with a time zone, such as "2024-05-01T09:30:00Z" or "2024-05-01T11:30:00+02:00"';

describe("text fields (compared ignoring case)", () => {
  test("eq and in match whole values whatever their case", async () => {
    assert.deepEqual(await select({ email: { eq: "BOB@old.example" } }), ["Bob@Old.Example"]);
    assert.deepEqual(await select({ email: { in: ["cy@old.example", "ADA@Example.com", "nobody@example.com"] } }), [
      "ada@example.com",
      "cy@old.example",
    ]);
    assert.deepEqual(await select({ status: { eq: "inactive" } }), ["cy@old.example", "eve@example.com"]);
  });

  test("neq selects every other row, including those where the field is empty", async () => {
    assert.deepEqual(await select({ name: { neq: "bob" } }), everyone.filter((e) => e !== "Bob@Old.Example"));
  });

  test("contains, startsWith and endsWith", async () => {
    assert.deepEqual(await select({ email: { endsWith: "@OLD.example" } }), ["Bob@Old.Example", "cy@old.example"]);
    assert.deepEqual(await select({ email: { startsWith: "b" } }), ["Bob@Old.Example"]);
    assert.deepEqual(await select({ name: { contains: "LOVE" } }), ["ada@example.com"]);
    assert.deepEqual(await select({ name: { contains: "percent", startsWith: "50" } }), ["eve@example.com"]);
  });

  test("isNull", async () => {
    assert.deepEqual(await select({ name: { isNull: true } }), ["cy@old.example"]);
    assert.deepEqual(await select({ name: { isNull: false } }), everyone.filter((e) => e !== "cy@old.example"));
  });

  test("%, _ and \\ in a value match themselves, not as LIKE wildcards", async () => {
    assert.deepEqual(await select({ name: { contains: "50%" } }), ["dee@example.com"]);
    assert.deepEqual(await select({ name: { contains: "%" } }), ["dee@example.com"]);
    assert.deepEqual(await select({ name: { endsWith: "%" } }), []);
    assert.deepEqual(await select({ name: { startsWith: "a_" } }), ["fay@example.com"]);
    assert.deepEqual(await select({ name: { contains: "_" } }), ["fay@example.com"]);
    assert.deepEqual(await select({ name: { contains: "k\\s" } }), ["hal@example.com"]);
    assert.deepEqual(await select({ name: { endsWith: "\\" } }), []);
  });
});

describe("timestamp fields", () => {
  test("compare instants, whatever zone the value is written in", async () => {
    assert.deepEqual(await select({ createdAt: { eq: "2024-04-15T06:30:00Z" } }), ["eve@example.com"]);
    assert.deepEqual(await select({ createdAt: { eq: "2024-04-15T01:30:00-05:00" } }), ["eve@example.com"]);
    assert.deepEqual(await select({ createdAt: { lte: "2024-02-01T13:00:00+01:00" } }), ["ada@example.com", "Bob@Old.Example"]);
    assert.deepEqual(await select({ createdAt: { lt: "2024-02-01T13:00:00+01:00" } }), ["ada@example.com"]);
    assert.deepEqual(await select({ createdAt: { gte: "2024-03-01T00:00:00Z", lt: "2024-03-01 00:00:01+00" } }), [
      "cy@old.example",
      "dee@example.com",
    ]);
    assert.deepEqual(await select({ createdAt: { gt: "2024-03-01T00:00:00.4Z", lte: "2024-04-15T08:30+0200" } }), [
      "dee@example.com",
      "eve@example.com",
    ]);
  });

  test("isNull", async () => {
    assert.deepEqual(await select({ createdAt: { isNull: true } }), []);
    assert.deepEqual(await select({ createdAt: { isNull: false } }), everyone);
  });
});

describe("id fields", () => {
  test("eq, in, gt and lt", async () => {
    assert.deepEqual(await select({ id: { eq: ids["cy@old.example"]! } }), ["cy@old.example"]);
    assert.deepEqual(await select({ id: { in: [ids["ada@example.com"]!, ids["ivy@example.com"]!, 0] } }), [
      "ada@example.com",
      "ivy@example.com",
    ]);
    assert.deepEqual(await select({ id: { gt: ids["gus@example.com"]! } }), ["hal@example.com", "ivy@example.com"]);
    assert.deepEqual(await select({ id: { lt: ids["Bob@Old.Example"]! } }), ["ada@example.com"]);
    assert.deepEqual(await select({ id: { gt: ids["ada@example.com"]!, lt: ids["dee@example.com"]! } }), [
      "Bob@Old.Example",
      "cy@old.example",
    ]);
  });
});

describe("combining filters", () => {
  test("the entries of a filter must all hold (the CLI's example)", async () => {
    assert.deepEqual(await select({ email: { endsWith: "@old.example" }, status: { eq: "active" } }), ["Bob@Old.Example"]);
  });

  test("and, or and not nest", async () => {
    const filter = {
      or: [
        { and: [{ status: { eq: "inactive" } }, { name: { isNull: false } }] },
        { email: { startsWith: "ada" } },
        { not: { or: [{ name: { startsWith: "a" } }, { name: { contains: "5" } }, { name: { contains: "slash" } }, { name: { isNull: true } }] } },
      ],
    };
    assert.deepEqual(await select(filter), ["ada@example.com", "Bob@Old.Example", "eve@example.com"]);
  });

  test("not selects exactly the rows its filter does not, including those with empty fields", async () => {
    assert.deepEqual(await select({ not: { name: { eq: "Bob" } } }), everyone.filter((e) => e !== "Bob@Old.Example"));
    assert.deepEqual(await select({ not: { not: { name: { eq: "Bob" } } } }), ["Bob@Old.Example"]);
  });

  test("an or stays inside the query's other conditions", async () => {
    assert.deepEqual(await select({ or: [{ name: { startsWith: "ada" } }, { email: { endsWith: "@other.example" } }] }), [
      "ada@example.com",
    ]);
  });

  test("ten levels of nesting are allowed", async () => {
    let filter: unknown = { email: { eq: "ada@example.com" } };
    for (let level = 1; level < 10; level++) filter = { and: [filter] };
    assert.deepEqual(await select(filter), ["ada@example.com"]);
  });
});

describe("SQL injection attempts", () => {
  test("through field names are rejected as unknown fields", async () => {
    rejects({ "email; drop table bulkrun.users --": { eq: "x" } }, `invalid filter: unknown field \`email; drop table bulkrun.users --\` ${FIELDS_HINT}`);
    rejects({ 'email" or 1=1 --': { eq: "x" } }, `invalid filter: unknown field \`email" or 1=1 --\` ${FIELDS_HINT}`);
    rejects(JSON.parse('{"__proto__": {"eq": "x"}}'), `invalid filter: unknown field \`__proto__\` ${FIELDS_HINT}`);
    assert.deepEqual(await usersTable(), { exists: true, count: people.length + 1 });
  });

  test("through operators are rejected as unknown operators", async () => {
    rejects({ email: { "eq) or (1=1": "x" } }, `invalid filter: unknown operator \`eq) or (1=1\` for text field \`email\` ${TEXT_OPS}`);
    rejects({ id: { "= 1 or 1=1 --": 1 } }, "invalid filter: unknown operator `= 1 or 1=1 --` for id field `id` (allowed: `eq`, `in`, `gt`, `lt`)");
    assert.deepEqual(await usersTable(), { exists: true, count: people.length + 1 });
  });

  test("through values match nothing", async () => {
    for (const value of ["' or '1'='1", "x'); drop table bulkrun.users; --", 'x"}, {"', "?", "$1"]) {
      for (const operator of ["eq", "contains", "startsWith", "endsWith"]) {
        assert.deepEqual(await select({ email: { [operator]: value } }), [], `${operator} ${value}`);
      }
      assert.deepEqual(await select({ email: { in: [value, `${value}\\`, "{a,b}"] } }), [], `in ${value}`);
      assert.deepEqual(await select({ email: { neq: value } }), everyone, `neq ${value}`);
    }
    rejects({ id: { eq: "1 or 1=1" } }, 'invalid filter: `id.eq` must be a whole number (got "1 or 1=1")');
    rejects({ createdAt: { gt: "2024-01-01T00:00:00Z' or '1'='1" } }, `invalid filter: \`createdAt.gt\` ${TIMESTAMP_HINT} (got "2024-01-01T00:00:00Z' or '1'='1")`);
    assert.deepEqual(await usersTable(), { exists: true, count: people.length + 1 });
  });

  test("a filter built in code gets the same checks in applyFilter", async () => {
    const forged = { 'email" or 1=1 --': { eq: "x" } } as Filter;
    assert.throws(() => applyFilter(ctx.db.knex("bulkrun.users"), forged, fields), { code: "BULKRUN_ERR_FILTER" });
  });
});

describe("error messages", () => {
  test("unknown fields and operators, with did-you-mean and what is allowed", () => {
    rejects({ emial: { eq: "a" } }, `invalid filter: unknown field \`emial\`, did you mean \`email\`? ${FIELDS_HINT}`);
    rejects({ email: { endswith: "x" } }, `invalid filter: unknown operator \`endswith\` for text field \`email\`, did you mean \`endsWith\`? ${TEXT_OPS}`);
    rejects({ id: { contains: "x" } }, "invalid filter: unknown operator `contains` for id field `id` (allowed: `eq`, `in`, `gt`, `lt`)");
    rejects(
      { createdAt: { before: "2024-01-01T00:00:00Z" } },
      "invalid filter: unknown operator `before` for timestamp field `createdAt` (allowed: `eq`, `gt`, `gte`, `lt`, `lte`, `isNull`)",
    );
  });

  test("values of the wrong type", () => {
    rejects({ email: { eq: 5 } }, "invalid filter: `email.eq` must be a string (got 5)");
    rejects({ email: { eq: null } }, "invalid filter: `email.eq` must be a string (got null: `isNull` matches empty fields)");
    rejects({ id: { eq: "42" } }, 'invalid filter: `id.eq` must be a whole number (got "42")');
    rejects({ id: { lt: 1.5 } }, "invalid filter: `id.lt` must be a whole number (got 1.5)");
    rejects({ id: { in: [1, "2"] } }, 'invalid filter: `id.in[1]` must be a whole number (got "2")');
    rejects({ email: { in: "a@example.com" } }, 'invalid filter: `email.in` must be a non-empty array (got "a@example.com")');
    rejects({ email: { in: [] } }, "invalid filter: `email.in` must be a non-empty array (got an empty array)");
    rejects({ name: { isNull: "yes" } }, 'invalid filter: `name.isNull` must be true or false (got "yes")');
    rejects({ email: { contains: "" } }, "invalid filter: `email.contains` must not be empty: it would match every row");
    rejects({ email: "a@example.com" }, 'invalid filter: `email` must be an object of operators such as {"eq": …} (got "a@example.com")');
    rejects({ email: {} }, 'invalid filter: `email` must be an object of operators such as {"eq": …} (got an empty object)');
  });

  test("timestamps must be ISO 8601 with a zone, and real", () => {
    for (const value of ["yesterday", "2024-05-01T00:00:00", "2024-05-01", "2024-02-30T00:00:00Z", "2023-02-29T00:00:00Z", "2024-05-01T24:00:00Z", "2024-05-01T00:00:00+16:00", 1714521600]) {
      rejects({ createdAt: { gt: value } }, `invalid filter: \`createdAt.gt\` ${TIMESTAMP_HINT} (got ${JSON.stringify(value)})`);
    }
    for (const value of ["2024-02-29T00:00:00Z", "2024-05-01T09:30Z", "2024-05-01 09:30:00.123456+02", "2024-05-01T09:30:00-0530"]) {
      assert.deepEqual(parseFilter({ createdAt: { gt: value } }, fields), { createdAt: { gt: value } });
    }
  });

  test("the shape of the filter", () => {
    rejects("{email:", `invalid filter: not valid JSON (${jsonError("{email:")})`);
    rejects("[1]", 'invalid filter: a filter must be a JSON object such as {"email": {"endsWith": "@example.com"}} (got an array)');
    rejects({}, "invalid filter: the filter is empty, which would select every row: give at least one condition");
    rejects({ not: {} }, "invalid filter: in `not`: the filter is empty: give at least one condition");
    rejects({ and: [] }, "invalid filter: `and` must be a non-empty array of filters (got an empty array)");
    rejects({ or: { email: { eq: "a" } } }, "invalid filter: `or` must be a non-empty array of filters (got an object)");
  });

  test("limits: nesting depth, in values, conditions", () => {
    let deep: unknown = { email: { eq: "a" } };
    for (let level = 1; level <= 10; level++) deep = { not: deep };
    rejects(deep, `invalid filter: in \`${Array(10).fill("not").join(".")}\`: the filter is nested more than 10 levels deep`);
    assert.doesNotThrow(() => parseFilter({ email: { in: Array(10_000).fill("a") } }, fields));
    rejects({ email: { in: Array(10_001).fill("a") } }, "invalid filter: `email.in` has 10001 values, more than the 10000 allowed");
    rejects(
      { or: Array.from({ length: 1001 }, (_, i) => ({ id: { eq: i } })) },
      "invalid filter: the filter has more than 1000 conditions; use `in` for lists of values",
    );
  });

  test("every problem is reported at once, each with where it is (at most ten)", () => {
    rejects(
      { or: [{ emial: { eq: "a" } }, { and: [{ email: { eq: 1 } }, { status: { like: "x" } }] }] },
      `invalid filter: in \`or[0]\`: unknown field \`emial\`, did you mean \`email\`? ${FIELDS_HINT}; ` +
        "in `or[1].and[0]`: `email.eq` must be a string (got 1); " +
        `in \`or[1].and[1]\`: unknown operator \`like\` for text field \`status\` ${TEXT_OPS}`,
    );
    rejects(
      { or: Array(12).fill({}) },
      `invalid filter: ${Array.from({ length: 10 }, (_, i) => `in \`or[${i}]\`: the filter is empty: give at least one condition`).join("; ")} (and 2 more problems)`,
    );
  });

  test("a long name is cut short in the message", () => {
    rejects({ ["x".repeat(100)]: { eq: "a" } }, `invalid filter: unknown field \`${"x".repeat(57)}…\` ${FIELDS_HINT}`);
  });

  test("a valid filter comes back as given, from JSON text or an object", () => {
    const filter = { email: { endsWith: "@old.example" }, or: [{ status: { eq: "active" } }, { not: { id: { in: [1, 2] } } }] };
    assert.deepEqual(parseFilter(JSON.stringify(filter), fields), filter);
    assert.deepEqual(parseFilter(filter, fields), filter);
  });
});

function jsonError(text: string): string {
  try {
    JSON.parse(text);
  } catch (error) {
    return (error as Error).message;
  }
  return "";
}
