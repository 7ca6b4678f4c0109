// GET /v1/openapi.json: one OpenAPI 3.1 document for everything the gateway serves.
// Each service generates its own document from the zod schemas that validate its
// requests (createServiceApp → GET /<family>/openapi.json); the gateway fetches them
// over the service bindings, prefixes their paths with /v1, merges the components
// (renaming a schema only when two services define the same name differently), and
// adds its own routes, declared here with zod like every other route.
import { OpenAPIHono, z } from "@hono/zod-openapi";
import { SERVICES, type ServiceName } from "../../../shared/clients";
import { matchPublicRoute } from "./routes";

type Json = Record<string, unknown>;
interface OpenApiDoc {
  openapi?: string;
  info?: Json;
  paths?: Record<string, Record<string, Json>>;
  components?: Record<string, Record<string, unknown>>;
  tags?: { name: string; description?: string }[];
  security?: Json[];
}

const HTTP_METHODS = new Set(["get", "put", "post", "delete", "options", "head", "patch", "trace"]);

const ErrorBody = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: "not_found" }),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .openapi("Error");
const ServiceHealth = z
  .object({ service: z.string(), status: z.literal("ok") })
  .passthrough()
  .openapi("ServiceHealth");
const AggregateHealth = z
  .object({
    status: z.enum(["ok", "degraded"]),
    services: z.record(z.string(), z.string()).describe('one key per Worker: "ok" or the error'),
  })
  .openapi("AggregateHealth");

const errorResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: ErrorBody } },
});

/** The gateway's own routes (the proxied ones come from the services' documents). */
function gatewayDocument(): OpenApiDoc {
  const gw = new OpenAPIHono();
  const reg = gw.openAPIRegistry;
  reg.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "AUTH_TOKEN (or a secondary token); not needed when the gateway runs open locally",
  });
  reg.registerPath({
    method: "get",
    path: "/health",
    tags: ["gateway"],
    security: [],
    summary: "The gateway's own liveness",
    responses: {
      200: { description: "alive", content: { "application/json": { schema: ServiceHealth } } },
    },
  });
  reg.registerPath({
    method: "get",
    path: "/v1/health",
    tags: ["gateway"],
    security: [],
    summary: "Every service's health (no auth)",
    responses: {
      200: { description: "all ok", content: { "application/json": { schema: AggregateHealth } } },
      503: {
        description: "at least one service is not ok",
        content: { "application/json": { schema: AggregateHealth } },
      },
    },
  });
  reg.registerPath({
    method: "get",
    path: "/v1/openapi.json",
    tags: ["gateway"],
    summary: "This document",
    responses: {
      200: {
        description: "OpenAPI 3.1 document",
        content: { "application/json": { schema: z.record(z.string(), z.unknown()) } },
      },
      401: errorResponse("missing or invalid bearer token"),
    },
  });
  reg.registerPath({
    method: "get",
    path: "/",
    tags: ["console"],
    security: [],
    summary: "The web console (HTML; its /v1 calls carry the token typed into it)",
    responses: {
      200: { description: "HTML page", content: { "text/html": { schema: z.string() } } },
      404: errorResponse("console disabled ([gateway].console = false)"),
    },
  });
  reg.registerPath({
    method: "get",
    path: "/console/app.js",
    tags: ["console"],
    security: [],
    summary: "The console's script",
    responses: {
      200: { description: "JavaScript", content: { "text/javascript": { schema: z.string() } } },
    },
  });
  reg.registerPath({
    method: "get",
    path: "/console/app.css",
    tags: ["console"],
    security: [],
    summary: "The console's style sheet",
    responses: { 200: { description: "CSS", content: { "text/css": { schema: z.string() } } } },
  });
  for (const [service, { family }] of Object.entries(SERVICES)) {
    reg.registerPath({
      method: "get",
      path: `/v1/${family}/health`,
      tags: [family],
      summary: `${service} service health`,
      responses: {
        200: { description: "alive", content: { "application/json": { schema: ServiceHealth } } },
        401: errorResponse("missing or invalid bearer token"),
      },
    });
    reg.registerPath({
      method: "get",
      path: `/v1/${family}/openapi.json`,
      tags: [family],
      summary: `the ${service} service's own OpenAPI document (paths relative to /v1)`,
      responses: {
        200: {
          description: "OpenAPI 3.1 document",
          content: { "application/json": { schema: z.record(z.string(), z.unknown()) } },
        },
      },
    });
  }
  return gw.getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: "lakehouse",
      version: "1",
      description:
        'The lakehouse\'s public API: the gateway forwards /v1/<family>/... to each service. Errors are always {"error":{"code","message"}} with the matching status; ' +
        "every /v1 route but /v1/health needs `Authorization: Bearer <token>` when a token is configured (401), and the IP allow-list answers 403; bodies over a family's cap get 413.",
    },
    security: [{ bearer: [] }],
  }) as unknown as OpenApiDoc;
}

function rewriteRefs(node: unknown, renames: Map<string, string>): unknown {
  if (Array.isArray(node)) return node.map((n) => rewriteRefs(n, renames));
  if (node && typeof node === "object") {
    const out: Json = {};
    for (const [k, v] of Object.entries(node as Json)) {
      if (k === "$ref" && typeof v === "string") {
        const m = /^#\/components\/([^/]+)\/(.+)$/.exec(v);
        const renamed = m ? renames.get(`${m[1]}/${m[2]}`) : undefined;
        out[k] = renamed ? `#/components/${m![1]}/${renamed}` : v;
      } else out[k] = rewriteRefs(v, renames);
    }
    return out;
  }
  return node;
}

/** The service path of a path template in a service's own document (the family once). */
function servicePathOf(path: string, family: string): string {
  // A path registered on `api` with the family already in it comes out of doc31 with the
  // family twice (/vectors/vectors/index): the route itself is /vectors/index.
  const doubled = `/${family}/${family}`;
  return path.startsWith(`${doubled}/`) ? path.slice(family.length + 1) : path;
}

/** Whether `method template` of a service's document is a public route (routes.ts). */
export function isPublicOperation(method: string, template: string): boolean {
  const probe = template.replace(/\{[^}]+\}/g, "probe");
  return matchPublicRoute(method.toUpperCase(), probe.split("/").slice(1), probe).ok;
}

/** A service's own document with only its public operations (what GET /v1/<family>/openapi.json shows). */
export function publicDocument(doc: OpenApiDoc, family: string): OpenApiDoc {
  const paths: Record<string, Record<string, Json>> = {};
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    const kept: Record<string, Json> = {};
    let operations = 0;
    for (const [method, op] of Object.entries(item)) {
      if (!HTTP_METHODS.has(method)) kept[method] = op;
      else if (isPublicOperation(method, servicePathOf(path, family))) {
        kept[method] = op;
        operations++;
      }
    }
    if (operations > 0) paths[path] = kept;
  }
  return { ...doc, paths };
}

export interface MergeInput {
  service: ServiceName;
  family: string;
  doc?: OpenApiDoc;
  error?: string;
}

/** Merges the services' documents into the gateway's. Pure, so it is unit-testable. */
export function mergeDocuments(inputs: MergeInput[]): OpenApiDoc {
  const merged = gatewayDocument();
  merged.paths ??= {};
  merged.components ??= {};
  const tags = new Map<string, string>([
    ["gateway", "The public door: health and this document"],
    ["console", "The web console"],
  ]);
  const operationIds = new Set<string>();
  const unavailable: Record<string, string> = {};

  for (const { service, family, doc, error } of inputs) {
    tags.set(family, `the ${service} service (/v1/${family})`);
    if (!doc) {
      unavailable[service] = error ?? "no document";
      continue;
    }
    // Components: keep a service's name unless another service already holds a different definition.
    const renames = new Map<string, string>();
    for (const [kind, entries] of Object.entries(doc.components ?? {})) {
      merged.components[kind] ??= {};
      const target = merged.components[kind];
      for (const [name, def] of Object.entries(entries ?? {})) {
        if (name in target && JSON.stringify(target[name]) !== JSON.stringify(def)) {
          let renamed = `${service}_${name}`;
          for (let i = 2; renamed in target; i++) renamed = `${service}_${name}_${i}`;
          renames.set(`${kind}/${name}`, renamed);
        }
      }
    }
    const fixed = rewriteRefs(publicDocument(doc, family), renames) as OpenApiDoc;
    for (const [kind, entries] of Object.entries(fixed.components ?? {})) {
      const target = merged.components[kind]!;
      for (const [name, def] of Object.entries(entries ?? {}))
        target[renames.get(`${kind}/${name}`) ?? name] = def;
    }
    for (const [path, item] of Object.entries(fixed.paths ?? {})) {
      const publicPath = `/v1${servicePathOf(path, family)}`;
      merged.paths[publicPath] ??= {};
      const target = merged.paths[publicPath];
      for (const [method, op] of Object.entries(item)) {
        if (!HTTP_METHODS.has(method)) {
          target[method] = op;
          continue;
        }
        const operation: Json = { ...op };
        if (!Array.isArray(operation.tags) || operation.tags.length === 0)
          operation.tags = [family];
        if (typeof operation.operationId === "string") {
          if (operationIds.has(operation.operationId))
            operation.operationId = `${service}_${operation.operationId}`;
          operationIds.add(operation.operationId as string);
        }
        target[method] = operation;
      }
    }
  }
  merged.tags = [...tags].map(([name, description]) => ({ name, description }));
  if (Object.keys(unavailable).length > 0) (merged as Json)["x-unavailable-services"] = unavailable;
  return merged;
}

/** Fetches every service's document over its binding (in parallel, each with a timeout) and merges them. */
export async function buildOpenApi(
  env: Record<string, unknown>,
  timeoutMs: number,
  requestId: string,
): Promise<OpenApiDoc> {
  const inputs = await Promise.all(
    (Object.keys(SERVICES) as ServiceName[]).map(async (service): Promise<MergeInput> => {
      const { binding, family } = SERVICES[service];
      const fetcher = env[binding] as Fetcher | undefined;
      if (!fetcher) return { service, family, error: `binding ${binding} is not configured` };
      try {
        const res = await fetcher.fetch(`https://${service}.internal/${family}/openapi.json`, {
          headers: { "X-Request-Id": requestId },
          signal: AbortSignal.timeout(timeoutMs),
        });
        if (!res.ok) return { service, family, error: `HTTP ${res.status}` };
        return { service, family, doc: (await res.json()) as OpenApiDoc };
      } catch (err) {
        return { service, family, error: (err as Error).message };
      }
    }),
  );
  return mergeDocuments(inputs);
}
