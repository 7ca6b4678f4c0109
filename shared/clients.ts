// Typed calls over service bindings. Each Worker talks to another only through
// these, so a failing hop always surfaces as a LakehouseError that names the
// service, and the request id follows the call.

import { REQUEST_ID_HEADER } from "./app";
import { errorFromResponse, LakehouseError } from "./errors";

/** The services behind the gateway, by binding, with the path family each answers. */
export const SERVICES = {
  storage: { binding: "STORAGE", family: "storage" },
  catalog: { binding: "CATALOG", family: "catalog" },
  ingest: { binding: "INGEST", family: "ingest" },
  query: { binding: "QUERY", family: "sql" },
  embed: { binding: "EMBED", family: "embed" },
  vectors: { binding: "VECTORS", family: "vectors" },
  pathway: { binding: "PATHWAY", family: "pathway" },
  matrix: { binding: "MATRIX", family: "matrix" },
  observer: { binding: "OBSERVER", family: "observer" },
  mcp: { binding: "MCP", family: "mcp" },
} as const;

export type ServiceName = keyof typeof SERVICES;

export interface CallOptions {
  method?: string;
  json?: unknown;
  body?: BodyInit | null;
  headers?: HeadersInit;
  signal?: AbortSignal;
}

export class ServiceClient {
  constructor(
    private readonly fetcher: Fetcher,
    readonly service: ServiceName,
    private readonly requestId?: string,
  ) {}

  /** Sends a request to `/<family><path>` on the service; a thrown transport error becomes 502. */
  async fetch(path: string, options: CallOptions = {}): Promise<Response> {
    const headers = new Headers(options.headers);
    if (this.requestId) headers.set(REQUEST_ID_HEADER, this.requestId);
    let body = options.body ?? null;
    if (options.json !== undefined) {
      headers.set("content-type", "application/json");
      body = JSON.stringify(options.json);
    }
    const url = `https://${this.service}.internal/${SERVICES[this.service].family}${path}`;
    try {
      return await this.fetcher.fetch(url, {
        method: options.method ?? (body ? "POST" : "GET"),
        headers,
        body,
        signal: options.signal,
      });
    } catch (err) {
      throw new LakehouseError(
        "bad_gateway",
        `${this.service} service failed: ${(err as Error).message}`,
      );
    }
  }

  /** Like fetch, then parses JSON; a non-2xx answer is rethrown as the service's own error. */
  async json<T>(path: string, options: CallOptions = {}): Promise<T> {
    const res = await this.fetch(path, options);
    if (!res.ok)
      throw await errorFromResponse(res, `${this.service} ${options.method ?? "GET"} ${path}`);
    return (await res.json()) as T;
  }
}

/**
 * Runs `run` with an AbortSignal that fires after `ms`: the promise rejects with `onTimeout()`
 * then, whether or not `run` heeds the signal (a provider call, an LLM call). Other failures
 * of `run` pass through unchanged.
 */
export async function withTimeout<T>(
  ms: number,
  run: (signal: AbortSignal) => Promise<T>,
  onTimeout: () => Error,
): Promise<T> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(onTimeout());
    }, ms);
  });
  try {
    return await Promise.race([run(controller.signal), timeout]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

export function serviceClient(
  env: Record<string, unknown>,
  service: ServiceName,
  requestId?: string,
): ServiceClient {
  const fetcher = env[SERVICES[service].binding] as Fetcher | undefined;
  if (!fetcher)
    throw new LakehouseError(
      "internal",
      `binding ${SERVICES[service].binding} (${service}) is not configured`,
    );
  return new ServiceClient(fetcher, service, requestId);
}
