// The app factory every Worker starts from: request ids, GET /health, the one JSON
// error body for thrown errors, 404 and 405, and a base path for the service's family.
import { OpenAPIHono, type z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import { ConfigError } from "./config";
import { errorResponse, LakehouseError } from "./errors";
import { describeIssues } from "./field-errors";
import { isRpcSizeError, parseJsonBounded, readBoundedText } from "./json-limits";
import { lakehouseConfig } from "./lakehouse-config";
import { logger } from "./log";

export const REQUEST_ID_HEADER = "X-Request-Id";
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** `bodyCap`: bytes readJson reads at most (the service's [gateway.body_caps] entry; absent = no cap). */
export type AppVariables = { requestId: string; bodyCap?: number };
export type AppEnv<B extends object = object> = { Bindings: B; Variables: AppVariables };

/** Takes the caller's X-Request-Id when it is sane, otherwise makes one; echoes it on the response. */
export function requestId(): MiddlewareHandler<AppEnv> {
  return async function requestIdMiddleware(c, next) {
    const incoming = c.req.header(REQUEST_ID_HEADER);
    const id = incoming && REQUEST_ID_PATTERN.test(incoming) ? incoming : crypto.randomUUID();
    c.set("requestId", id);
    await next();
    // Responses from fetch() or service bindings have immutable headers: copy when needed.
    try {
      c.res.headers.set(REQUEST_ID_HEADER, id);
    } catch {
      c.res = new Response(c.res.body, c.res);
      c.res.headers.set(REQUEST_ID_HEADER, id);
    }
  };
}

export function toLakehouseError(err: unknown): LakehouseError {
  if (err instanceof LakehouseError) return err;
  if (err instanceof HTTPException) {
    const code =
      err.status === 413
        ? "payload_too_large"
        : err.status === 401
          ? "unauthorized"
          : err.status >= 500
            ? "internal"
            : "bad_request";
    return new LakehouseError(code, err.message || `HTTP ${err.status}`, { status: err.status });
  }
  if (err instanceof SyntaxError)
    return new LakehouseError("bad_request", `invalid JSON body: ${err.message}`);
  // A Durable Object or service RPC refused for its serialized size (workerd: 32 MiB): the
  // request carried too much, not a fault of ours.
  if (isRpcSizeError(err))
    return new LakehouseError(
      "payload_too_large",
      `request too large to pass on: ${(err as Error).message}`,
    );
  // The operator's own file or LH_* vars: say what is wrong (no secret is ever in it).
  if (err instanceof ConfigError)
    return new LakehouseError("config_error", err.message, { status: 500 });
  return new LakehouseError("internal", "internal error");
}

export function onError(service: string) {
  return function handleError(err: Error, c: Context): Response {
    const lhErr = toLakehouseError(err);
    if (lhErr.status >= 500 && !(err instanceof LakehouseError)) {
      logger(c.env ?? {}, service).error(
        err instanceof ConfigError ? err.message : "unhandled error",
        err.stack ?? err,
      );
    }
    return errorResponse(lhErr);
  };
}

export interface ServiceApp<B extends object> {
  /** The root app: export it as the Worker's fetch handler. */
  app: OpenAPIHono<AppEnv<B>>;
  /**
   * Routes of the service, under `/<family>` (the gateway strips only `/v1`).
   * Declare JSON routes with `api.openapi(createRoute({...}), handler)`: the zod schemas
   * validate the request (a failure is a 400 naming the field) and feed
   * `GET /<family>/openapi.json`, which the gateway merges into /v1/openapi.json.
   */
  api: OpenAPIHono<AppEnv<B>>;
}

/**
 * Parses `value` with a schema that is also in the service's document (query parameters of a
 * route registered with `registerPath`, or one item of a batch): a failure is a 400 naming the
 * field where it came from, worded like a failed `createRoute` validation (describeIssues,
 * shared/field-errors.ts): `query.limit: expected ..., got "0"`.
 */
export function parseWith<T extends z.ZodType>(
  schema: T,
  value: unknown,
  where: string,
): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success)
    throw new LakehouseError("bad_request", describeIssues(result.error.issues, where));
  return result.data;
}

/**
 * Route middleware for JSON bodies validated by `createRoute`: the request is read as JSON
 * whatever its Content-Type said (as before the routes had schemas), so a body sent as
 * text/plain or without a type is still parsed and bad JSON is a 400 rather than a 415.
 */
export const jsonContentType: MiddlewareHandler = async (c, next) => {
  const ct = c.req.header("content-type");
  if (!ct || !/^application\/([a-z-.]+\+)?json(;|$)/i.test(ct.trim())) {
    const headers = new Headers(c.req.raw.headers);
    headers.set("content-type", "application/json");
    c.req.raw = new Request(c.req.raw, { headers });
  }
  await next();
};

/**
 * Route middleware: jsonContentType, then the body read as JSON with readJson's messages
 * (empty body, not JSON) before the route's validator parses the same, cached, text.
 */
export const jsonBody: MiddlewareHandler = async (c, next) => {
  await jsonContentType(c, async () => {
    await readJson(c);
    await next();
  });
};

/** A JSON response for `createRoute({ responses })`: `200: jsonResponse(Schema, "what it holds")`. */
export const jsonResponse = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

/** A required JSON request body for `createRoute({ request })`: `body: jsonRequest(Schema)`. */
export const jsonRequest = <T extends z.ZodType>(schema: T) => ({
  required: true,
  content: { "application/json": { schema } },
});

/** OpenAPIHono's validation hook: a failed zod check becomes our 400 JSON body, fields named where they came from (`body.k`). */
function validationHook(
  result:
    | { success: true }
    | {
        success: false;
        error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] };
        target?: string;
      },
): Response | undefined {
  if (result.success) return undefined;
  const where = result.target === "json" ? "body" : (result.target ?? "request");
  return errorResponse(
    new LakehouseError("bad_request", describeIssues(result.error.issues, where)),
  );
}

/**
 * Builds a service Worker's app. `family` is the gateway path family the
 * service answers (`/v1/<family>/...` reaches it as `/<family>/...`).
 */
export function createServiceApp<B extends object>(
  service: string,
  family: string,
  options: { health?: (env: B) => Promise<Record<string, unknown>> | Record<string, unknown> } = {},
): ServiceApp<B> {
  const app = new OpenAPIHono<AppEnv<B>>({ defaultHook: validationHook as never });
  app.use("*", requestId());
  // Service bindings bypass the gateway: each service caps its own JSON bodies at the cap the
  // gateway uses for its family ([gateway.body_caps].<family>), read by readJson.
  app.use("*", async (c, next) => {
    let caps: Record<string, number> = {};
    try {
      caps = lakehouseConfig(c.env ?? {}).gateway.body_caps as Record<string, number>;
    } catch {
      // a bad configuration is reported by the routes that use it, not by every request
    }
    if (family in caps) c.set("bodyCap", caps[family]);
    await next();
  });
  app.onError(onError(service));
  app.notFound((c) =>
    errorResponse(
      new LakehouseError(
        "not_found",
        `no route for ${c.req.method} ${new URL(c.req.url).pathname}`,
      ),
    ),
  );
  const health = async (c: Context<AppEnv<B>>) =>
    c.json({ service, status: "ok", ...(await options.health?.(c.env)) });
  app.get("/health", health);
  const api = app.basePath(`/${family}`);
  api.get("/health", health);
  api.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: { title: `lakehouse-${service}`, version: "1" },
  });
  return { app, api };
}

/**
 * Parses a JSON request body: at most `maxBytes` (default: the service's body cap, see
 * createServiceApp) read, 413 past it; bad JSON, an empty body, or JSON nested deeper than
 * MAX_JSON_DEPTH (shared/json-limits.ts) → a 400 that says so.
 */
export async function readJson<T = unknown>(c: Context, maxBytes?: number): Promise<T> {
  const cap = maxBytes ?? (c.get("bodyCap") as number | undefined) ?? Number.MAX_SAFE_INTEGER;
  const text = await readBoundedText(c, cap, "the service's body cap");
  return parseJsonBounded(text, "request body") as T;
}

/** Reads a JSON object body; anything else (array, string, null) is a 400. */
export async function readJsonObject(c: Context): Promise<Record<string, unknown>> {
  const body = await readJson(c);
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new LakehouseError("bad_request", "request body must be a JSON object");
  }
  return body as Record<string, unknown>;
}
