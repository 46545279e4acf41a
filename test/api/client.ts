import type { BulkrunConfig } from "../../runner/config.ts";
import { startApi, type ApiServer } from "../../runner/api/server.ts";
import { createToken } from "../../runner/engine/tokens.ts";
import { newAccount } from "../helpers/actions.ts";
import { testRuntime, type TestRuntime } from "../helpers/runtime.ts";

/** A GraphQL answer as a client sees it. */
export interface GqlResult<T = any> {
  status: number;
  data?: T;
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** An API on a free port over a fresh database, with two accounts (A, B), a token each and an admin token. */
export interface ApiFixture {
  ctx: TestRuntime;
  api: ApiServer;
  a: { id: number; name: string; token: string };
  b: { id: number; name: string; token: string };
  adminToken: string;
  gql<T = any>(token: string | undefined, query: string, variables?: Record<string, unknown>): Promise<GqlResult<T>>;
  close(): Promise<void>;
}

export async function apiFixture(overrides: Partial<BulkrunConfig> = {}): Promise<ApiFixture> {
  const ctx = await testRuntime(overrides);
  const api = await startApi(ctx, { port: 0, host: "127.0.0.1" });
  const account = async () => {
    const row = await newAccount(ctx);
    return { id: row.id, name: row.name, token: (await createToken(ctx.db.knex, row.id, "test")).token };
  };
  const a = await account();
  const b = await account();
  const adminToken = (await createToken(ctx.db.knex, null, "admin")).token;
  return {
    ctx,
    api,
    a,
    b,
    adminToken,
    async gql(token, query, variables) {
      const response = await fetch(`${api.url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(token && { authorization: `Bearer ${token}` }) },
        body: JSON.stringify({ query, variables }),
      });
      return { status: response.status, ...((await response.json()) as object) };
    },
    async close() {
      await api.stop();
      await ctx.close();
    },
  };
}
