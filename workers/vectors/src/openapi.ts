// OpenAPI entries of the vectors routes (documentation only: the handlers validate by hand
// so that every 400 names the item and the value, e.g. `items[3].vector[5]: ... not finite`).
import { z } from "@hono/zod-openapi";
import type { OpenAPIHono } from "@hono/zod-openapi";

const Err = z.object({ error: z.object({ code: z.string(), message: z.string() }) }).openapi("VectorsError");
const Index = z
  .object({
    name: z.string(),
    dimension: z.number().int(),
    distance: z.enum(["cosine", "euclidean", "dot"]),
    count: z.number().int(),
    m: z.number().int(),
    ef_search: z.number().int(),
    shards: z.number().int(),
    engine: z.enum(["local", "vectorize"]),
    quantization: z.enum(["none", "int8"]),
    created_at: z.string(),
  })
  .openapi("VectorIndex");
const Hit = z.object({ id: z.string(), distance: z.number(), metadata: z.record(z.string(), z.unknown()).optional() }).openapi("VectorHit");
const Filter = z.record(z.string(), z.unknown()).describe("metadata filter: {key: scalar} or {key: {$eq|$ne|$in|$nin|$lt|$lte|$gt|$gte: ...}}, keys ANDed");
const name = z.object({ name: z.string().describe("index name") });
const json = (schema: z.ZodType) => ({ content: { "application/json": { schema } }, required: true });
const ok = (description: string, schema: z.ZodType) => ({ description, content: { "application/json": { schema } } });
const err = (description: string) => ({ description, content: { "application/json": { schema: Err } } });

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function documentVectors(api: OpenAPIHono<any>): void {
  const reg = api.openAPIRegistry;
  reg.registerPath({
    method: "post", path: "/index", summary: "Create a vector index",
    request: { body: json(z.object({ name: z.string(), dimension: z.number().int(), distance: z.enum(["cosine", "euclidean", "dot"]).optional(), m: z.number().int().optional(), ef_search: z.number().int().optional(), shards: z.number().int().optional(), quantization: z.enum(["none", "int8"]).optional() })) },
    responses: { 201: ok("created", Index), 400: err("invalid field"), 409: err("exists") },
  });
  reg.registerPath({ method: "get", path: "/index", summary: "List vector indexes", responses: { 200: ok("indexes", z.object({ indexes: z.array(Index) })) } });
  reg.registerPath({ method: "get", path: "/index/{name}", summary: "One index", request: { params: name }, responses: { 200: ok("the index", Index), 404: err("missing") } });
  reg.registerPath({ method: "delete", path: "/index/{name}", summary: "Delete an index and its vectors", request: { params: name }, responses: { 204: { description: "deleted" }, 404: err("missing") } });
  reg.registerPath({
    method: "post", path: "/index/{name}/add", summary: "Upsert vectors (the whole batch is validated first)",
    request: { params: name, body: json(z.object({ items: z.array(z.object({ id: z.string(), vector: z.array(z.number()), metadata: z.record(z.string(), z.unknown()).optional() })) })) },
    responses: { 200: ok("added", z.object({ added: z.number().int(), count: z.number().int() })), 400: err("invalid item"), 404: err("missing"), 507: err("shard memory bound") },
  });
  reg.registerPath({
    method: "post", path: "/index/{name}/search", summary: "k nearest neighbours, closest first; the filter applies before top-k",
    request: { params: name, body: json(z.object({ vector: z.array(z.number()), k: z.number().int().optional(), filter: Filter.optional(), ef_search: z.number().int().optional() })) },
    responses: { 200: ok("hits", z.object({ results: z.array(Hit) })), 400: err("invalid query"), 404: err("missing") },
  });
  reg.registerPath({
    method: "post", path: "/index/{name}/delete", summary: "Delete vectors by id",
    request: { params: name, body: json(z.object({ ids: z.array(z.string()) })) },
    responses: { 200: ok("deleted", z.object({ deleted: z.number().int() })), 404: err("missing") },
  });
  reg.registerPath({ method: "get", path: "/index/{name}/stats", summary: "Per-shard count, graph bytes, tombstones, snapshot size (local engine)", request: { params: name }, responses: { 200: ok("stats", z.record(z.string(), z.unknown())), 404: err("missing") } });
}
