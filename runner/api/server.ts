import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import pg from "pg";
import { postgraphile } from "postgraphile";
import { PgSubscriber } from "postgraphile/adaptors/pg";
import { grafserv } from "postgraphile/grafserv/node";
import { APPLICATION_NAME, guardPool } from "../db/database.ts";
import type { EngineContext } from "../engine/context.ts";
import { checkDatabase } from "../engine/health.ts";
import { collectMetrics } from "../engine/metrics.ts";
import { BulkrunError, isBulkrunError } from "../errors.ts";
import { principalOf, websocketAuthorization, type RequestPrincipal } from "./auth.ts";
import { HttpError, sendError, sendJson } from "./http-error.ts";
import { apiPreset } from "./preset.ts";
import { prometheusText } from "./prometheus.ts";
import { upload } from "./upload.ts";

/** A running API server. */
export interface ApiServer {
  /** Base address, e.g. `http://127.0.0.1:4000`. */
  url: string;
  port: number;
  /** Closes connections (websockets too), the schema's pool and the LISTEN connection. */
  stop(): Promise<void>;
}

/** Where to listen, overriding the configuration (`api.port`, `api.host`). */
export interface ApiOptions {
  /** 0 picks a free port. */
  port?: number;
  host?: string;
}

/**
 * Serves `/graphql` (queries, mutations; subscriptions over websockets), Ruru at `/graphiql`,
 * `/healthz`, `/metrics` (Prometheus, admin token) and `POST /upload` (a CSV streamed into a new
 * action).
 */
export async function startApi(ctx: EngineContext, options: ApiOptions = {}): Promise<ApiServer> {
  const db = ctx.db.knex;
  const listener = new PgSubscriber(ctx.db.pool);
  const pool = guardPool(new pg.Pool({ connectionString: ctx.db.url, max: 10, application_name: APPLICATION_NAME }), ctx.log);
  // Resolved once per HTTP request, before grafserv sees it, so a bad token is refused with 401.
  const principals = new WeakMap<IncomingMessage, RequestPrincipal>();
  const pgl = postgraphile(
    apiPreset({
      config: ctx.config,
      pool,
      listener,
      principal: async (requestContext) => {
        const req = requestContext.node?.req;
        if (req && principals.has(req)) return principals.get(req)!;
        const ws = requestContext.ws;
        return principalOf(db, websocketAuthorization(ws?.normalizedConnectionParams, ws?.request?.headers));
      },
    }),
  );
  const release = async () => {
    await pgl.release();
    listener.release();
    await pool.end();
  };
  try {
    await pgl.getSchema();
  } catch (error) {
    await release();
    throw error;
  }
  const serv = pgl.createServ(grafserv);
  // Not serv.addTo(), which takes every request: the routes above /graphql come first.
  const graphql = serv.createHandler();
  const upgradeGraphql = await serv.getUpgradeHandler();

  const route = async (req: IncomingMessage, res: ServerResponse, path: string) => {
    if (path === "/healthz") {
      await checkDatabase(db).then(
        () => sendJson(res, 200, { status: "ok", database: "ok" }),
        (error: Error) => sendJson(res, 503, { status: "unavailable", database: error.message }),
      );
      return;
    }
    if (path === "/metrics") {
      const principal = await principalOf(db, req.headers.authorization);
      if (principal?.kind !== "admin") throw new HttpError(403, "BULKRUN_ERR_UNAUTHORIZED", "/metrics shows every account: use an admin token (`bulkrun tokens create --admin`)");
      const text = prometheusText(await collectMetrics(db, ctx.config.worker.deadAfterMs));
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" }).end(text);
      return;
    }
    if (path === "/upload") {
      if (req.method !== "POST") throw new HttpError(405, "BULKRUN_ERR_UPLOAD", "POST the CSV file to /upload");
      const principal = await principalOf(db, req.headers.authorization);
      if (!principal) throw new HttpError(401, "BULKRUN_ERR_UNAUTHORIZED", "send an API token: `Authorization: Bearer <token>`");
      sendJson(res, 201, await upload(ctx, principal, req));
      return;
    }
    if (path === "/graphql") principals.set(req, await principalOf(db, req.headers.authorization));
    graphql(req, res);
  };

  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    route(req, res, path).catch((error: unknown) => {
      if (req.destroyed && res.destroyed) {
        ctx.log(`${req.method} ${path}: the client went away (${(error as Error).message}); nothing was stored`);
      } else if (path === "/graphql" && isBulkrunError(error)) {
        sendJson(res, 401, { errors: [{ message: error.message, extensions: { code: error.code } }] });
      } else {
        sendError(res, error, ctx.log);
      }
    });
  });
  const sockets = new Set<Duplex>();
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!upgradeGraphql || !serv.shouldHandleUpgrade(req, socket, head)) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    upgradeGraphql(req, socket, head);
  });
  const host = options.host ?? ctx.config.api.host;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? ctx.config.api.port, host, resolve);
    });
  } catch (cause) {
    await release();
    throw new BulkrunError("BULKRUN_ERR_CONFIG", `the API cannot listen on ${host}:${options.port ?? ctx.config.api.port}: ${(cause as Error).message} (set api.port or BULKRUN_API_PORT)`, { cause });
  }
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      await closed;
      // Releases grafserv too (it must not go first), and with it the schema's pool.
      await release();
    },
  };
}
