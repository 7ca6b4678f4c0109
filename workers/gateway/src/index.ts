// The gateway: the one public door. Request ids, auth, body caps, /v1/health,
// and /v1/<family>/* forwarded to the family's Worker over its service binding — except
// POST /v1/observer/event, which goes straight to its Observer object (observer-event.ts).
import { type Context, Hono } from "hono";
import { type AppEnv, onError, requestId } from "../../../shared/app";
import {
  type AuthSettings,
  type AuthVars,
  authMiddleware,
  authSettings,
} from "../../../shared/auth";
import { SERVICES } from "../../../shared/clients";
import { errorResponse, LakehouseError } from "../../../shared/errors";
import { lakehouseConfig } from "../../../shared/lakehouse-config";
import { mountConsole } from "./console";
import { aggregateHealth } from "./health";
import { OBSERVER_OBJECTS, observerEvent } from "./observer-event";
import { buildOpenApi, publicDocument } from "./openapi";
import { FAMILY_TO_SERVICE, forward, isFamily } from "./proxy";
import { checkStorageWrite, matchPublicRoute, normalisePath, ownedPrefixes } from "./routes";

export type GatewayEnv = AuthVars & Record<string, unknown>;

let cachedAuth: { key: string; settings: AuthSettings } | undefined;
function authFor(env: GatewayEnv): AuthSettings {
  const config = lakehouseConfig(env);
  const key = `${env.AUTH_TOKEN ?? ""}\0${env.AUTH_TOKENS_SECONDARY ?? ""}\0${env.LAKEHOUSE_ENV ?? ""}\0${config.auth.allowed_ips.join(",")}\0${config.auth.allow_unauthenticated}`;
  if (cachedAuth?.key !== key) cachedAuth = { key, settings: authSettings(env, config.auth) };
  return cachedAuth.settings;
}

const app = new Hono<AppEnv<GatewayEnv>>();
app.use("*", requestId());
app.onError(onError("gateway"));
app.notFound((c) =>
  errorResponse(
    new LakehouseError("not_found", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`),
  ),
);

app.get("/health", (c) => c.json({ service: "gateway", status: "ok" }));
app.get("/v1/health", async (c) => {
  const health = await aggregateHealth(c.env, lakehouseConfig(c.env).gateway.health_timeout_ms);
  return c.json(health, health.status === "ok" ? 200 : 503);
});

mountConsole(app);

app.use(
  "/v1/*",
  authMiddleware((env) => authFor(env as GatewayEnv)),
);

app.get("/v1/openapi.json", async (c) =>
  c.json(
    await buildOpenApi(c.env, lakehouseConfig(c.env).gateway.health_timeout_ms, c.get("requestId")),
  ),
);

// A family's own document, showing only its public routes (the service's full one lists
// service-to-service routes too).
app.get("/v1/:family{[a-z]+}/openapi.json", async (c) => {
  const family = c.req.param("family");
  const res = await proxy(c);
  if (!res.ok || !isFamily(family)) return res;
  return c.json(publicDocument((await res.json()) as Parameters<typeof publicDocument>[0], family));
});
app.all("/v1/*", proxy);

/** Forwards a request on a public route (routes.ts) to its family's Worker; anything else is 404/405. */
async function proxy(c: Context<AppEnv<GatewayEnv>>): Promise<Response> {
  const url = new URL(c.req.url);
  const method = c.req.method.toUpperCase();
  const { segments, encoded } = normalisePath(url.pathname);
  const family = segments[0] ?? "";
  if (!isFamily(family)) {
    throw new LakehouseError(
      "not_found",
      `unknown API family ${JSON.stringify(family)} (known: ${Object.keys(FAMILY_TO_SERVICE).join(", ")})`,
    );
  }
  const match = matchPublicRoute(method, segments, `/v1${encoded}`);
  if (!match.ok) {
    const res = errorResponse(match.error);
    if (match.allow) res.headers.set("Allow", match.allow);
    return res;
  }
  const config = lakehouseConfig(c.env);
  if (family === "storage" && match.params.key !== undefined) {
    checkStorageWrite(method, match.route, match.params.key, ownedPrefixes(config.ingestd.prefix));
  }
  const objects = c.env[OBSERVER_OBJECTS] as DurableObjectNamespace | undefined;
  if (objects && method === "POST" && match.route.path === "/observer/event") {
    // One Worker hop less per event (issue #15): straight to the shard's Observer object.
    return observerEvent(c.req.raw, objects, {
      cap: config.gateway.body_caps.observer,
      timeoutMs: config.gateway.upstream_timeout_ms,
      requestId: c.get("requestId"),
      shards: config.observerd.shards,
    });
  }
  const service = FAMILY_TO_SERVICE[family];
  const upstream = c.env[SERVICES[service].binding] as Fetcher | undefined;
  if (!upstream)
    throw new LakehouseError("bad_gateway", `${family} service is not bound to the gateway`);
  return forward(c.req.raw, upstream, family, {
    // a family without its own cap (iceberg) uses its Worker's family cap
    cap: config.gateway.body_caps[
      (family in config.gateway.body_caps
        ? family
        : SERVICES[FAMILY_TO_SERVICE[family]].family) as keyof typeof config.gateway.body_caps
    ],
    timeoutMs: config.gateway.upstream_timeout_ms,
    requestId: c.get("requestId"),
    path: encoded,
  });
}

export default app satisfies ExportedHandler<GatewayEnv>;
