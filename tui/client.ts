import { Agent, request } from "undici";
import { BulkrunError, ErrorCodes, type ErrorCode } from "../runner/errors.ts";

/** Where the API is and what to send it: the dashboard's whole view of a runner. */
export interface ApiTarget {
  /** Base address, e.g. `http://127.0.0.1:4000` (`/graphql` is added). */
  url: string;
  token: string | undefined;
}

/** A GraphQL error as the API sends it. */
interface GraphqlError {
  message: string;
  extensions?: { code?: string };
}

/** How long one request may take before the API counts as unreachable, in ms. */
const TIMEOUT_MS = 10_000;

/**
 * Queries and mutations over HTTP (undici, one keep-alive connection pool). Fails with
 * BULKRUN_ERR_UNAUTHORIZED when the token is refused, BULKRUN_ERR_API_UNREACHABLE when the API
 * does not answer, and the API's own code when a query fails (a plain Error when it has none).
 */
export class GraphqlClient {
  readonly target: ApiTarget;
  readonly #agent = new Agent({ connections: 2, headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS });
  readonly #endpoint: string;

  constructor(target: ApiTarget) {
    this.target = target;
    this.#endpoint = `${target.url.replace(/\/+$/, "")}/graphql`;
  }

  /** Runs one query or mutation and returns its `data`. */
  async request<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    let status: number;
    let body: { data?: T; errors?: GraphqlError[] };
    try {
      const response = await request(this.#endpoint, {
        method: "POST",
        dispatcher: this.#agent,
        headers: {
          "content-type": "application/json",
          ...(this.target.token ? { authorization: `Bearer ${this.target.token}` } : {}),
        },
        body: JSON.stringify({ query, variables }),
      });
      status = response.statusCode;
      body = (await response.body.json().catch(() => ({}))) as typeof body;
    } catch (cause) {
      throw new BulkrunError("BULKRUN_ERR_API_UNREACHABLE", `the API at ${this.target.url} does not answer (${describe(cause)})`, { cause });
    }
    const first = body.errors?.[0];
    if (status === 401) {
      throw new BulkrunError(
        "BULKRUN_ERR_UNAUTHORIZED",
        `the API at ${this.target.url} refused the token: ${first?.message ?? `HTTP ${status}`}`,
      );
    }
    if (first) {
      const code = knownCode(first.extensions?.code);
      throw code ? new BulkrunError(code, first.message) : new Error(`the API answered: ${first.message}`);
    }
    if (status >= 400 || body.data === undefined) {
      throw new BulkrunError("BULKRUN_ERR_API_UNREACHABLE", `the API at ${this.target.url} answered HTTP ${status} without data`);
    }
    return body.data;
  }

  /** Closes its connections. */
  async close(): Promise<void> {
    await this.#agent.close();
  }
}

function knownCode(code: string | undefined): ErrorCode | undefined {
  return code !== undefined && Object.hasOwn(ErrorCodes, code) ? (code as ErrorCode) : undefined;
}

function describe(cause: unknown): string {
  const error = cause as { code?: string; message?: string; cause?: { code?: string } };
  return error.code ?? error.cause?.code ?? error.message ?? String(cause);
}
