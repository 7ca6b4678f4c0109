// lakehouse-vectors: named vector indexes (DESIGN §6 Vectors).
// The registry (IndexRegistry DO) knows every index; the data lives either in VectorIndex
// Durable Objects (engine "local": one per shard, HNSW in memory, vectors in SQLite) or in
// Vectorize namespaces (engine "vectorize"). The engine is chosen per index at creation
// from [vectord].engine.
// Every route is declared with createRoute: the schemas in openapi.ts validate the request
// (a failure is a 400 naming the item and value) and are what GET /vectors/openapi.json shows;
// the checks that need the index or the config (dimension, zero vector, k) follow here.
import { createRoute, z } from "@hono/zod-openapi";
import { createServiceApp, jsonBody, jsonRequest, jsonResponse } from "../../../shared/app";
import { badRequest, conflict, LakehouseError, notFound } from "../../../shared/errors";
import { fieldErrors } from "../../../shared/field-errors";
import { utf8Length } from "../../../shared/json-limits";
import { lakehouseConfig } from "../../../shared/lakehouse-config";
import type { Distance, VectorHit, VectorIndexInfo } from "../../../shared/types";
import type { Quantization } from "./hnsw";
import type { IndexRecord, IndexSpec } from "./index-registry";
import {
  AddBody,
  CreateBody,
  DeleteBody,
  VectorIndexInfo as IndexSchema,
  NameParams,
  SearchBody,
  VectorHit as VectorHitSchema,
  VectorsError,
} from "./openapi";
import {
  perVectorBytes,
  SHARD_NOT_INITIALISED,
  type ShardItem,
  type ShardResult,
  type ShardSpec,
} from "./vector-index";
import {
  resolveVectorize,
  VECTORIZE_MAX_K,
  vectorizeDelete,
  vectorizeQuery,
  vectorizeUpsert,
} from "./vectorize-engine";

const { app, api } = createServiceApp<Env>("vectors", "vectors");

const err = (description: string) => jsonResponse(VectorsError, description);

function registry(env: Env) {
  return env.INDEX_REGISTRY.get(env.INDEX_REGISTRY.idFromName("registry"));
}

function shardStub(env: Env, name: string, shard: number) {
  return env.VECTOR_INDEX.get(env.VECTOR_INDEX.idFromName(`${name}#${shard}`));
}

/** An integer the schema accepted, within [min, max] from the config (the schema cannot know max). */
function inRange(field: string, v: number, min: number, max: number): number {
  if (v < min || v > max) throw badRequest(`${field}: must be between ${min} and ${max}, got ${v}`);
  return v;
}

/**
 * The checks on a vector the schema (openapi.ts `Vector`: finite numbers within float32) cannot
 * make, because they need the index: its dimension, and no zero vector under cosine (zero as
 * the 32-bit floats every engine stores, local and Vectorize alike).
 */
function indexVector(
  v: readonly number[],
  dimension: number,
  distance: Distance,
  where: string,
): Float32Array {
  if (v.length !== dimension)
    throw badRequest(`${where}: dimension mismatch: expected ${dimension}, got ${v.length}`);
  const out = Float32Array.from(v);
  // Checked on what is stored, the 32-bit floats: [1e-46, 0, 0] is not zero as typed, but is as stored (issue #21).
  if (distance === "cosine" && out.every((x) => x === 0)) {
    const typed = v.every((x) => x === 0) ? "" : " (every component rounds to 0 as a 32-bit float)";
    throw badRequest(`${where}: zero vector${typed} has no direction under cosine distance`);
  }
  return out;
}

function info(rec: IndexRecord): z.output<typeof IndexSchema> & VectorIndexInfo {
  return {
    name: rec.name,
    dimension: rec.dimension,
    distance: rec.distance,
    count: rec.count,
    m: rec.m,
    ef_search: rec.ef_search,
    shards: rec.shards,
    engine: rec.engine,
    quantization: rec.quantization,
    created_at: rec.created_at,
  };
}

/** An index by the name the route's NameParams validated; a 404 when there is none. */
async function getIndex(env: Env, name: string): Promise<IndexRecord> {
  const rec = await registry(env).get(name);
  if (!rec) throw notFound(`vector index ${JSON.stringify(name)} does not exist`);
  return rec as IndexRecord;
}

/**
 * Vectors one shard may hold within [vectord].shard_memory_mb: the vector in the kernel's
 * memory (float32, or an int8 record of 16 + dimension rounded up to 16 bytes), its level-0
 * links and ~256 B of id and bookkeeping (perVectorBytes). Metadata is counted on top, in
 * the shard (VectorIndex.add): a shard full of large metadata holds fewer vectors.
 */
export function shardCapacity(
  dimension: number,
  m: number,
  memoryMb: number,
  quantization: Quantization = "none",
): number {
  const perVector = perVectorBytes(dimension, m, quantization);
  return Math.max(1, Math.floor((memoryMb * 1024 * 1024) / perVector));
}

function shardSpec(env: Env, rec: IndexRecord, shard: number): ShardSpec {
  const cfg = lakehouseConfig(env).vectord;
  return {
    name: rec.name,
    shard,
    dimension: rec.dimension,
    distance: rec.distance,
    m: rec.m,
    ef_search: rec.ef_search,
    ef_construction: cfg.ef_construction,
    quantization: rec.quantization,
    max_vectors: shardCapacity(rec.dimension, rec.m, cfg.shard_memory_mb, rec.quantization),
  };
}

/** FNV-1a of the id: which shard holds it. */
export function shardOf(id: string, shards: number): number {
  if (shards === 1) return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % shards;
}

/**
 * A call on an index's shard; a shard emptied by a concurrent DELETE of the index is a 404 for
 * the index, never a 500 (issue #21: a search racing a delete answers 200 or 404).
 */
async function onShard<T>(name: string, call: () => PromiseLike<unknown>): Promise<T> {
  const gone = () =>
    notFound(
      `vector index ${JSON.stringify(name)} does not exist (it was deleted while this request ran)`,
    );
  let r: unknown;
  try {
    r = await call();
  } catch (err) {
    if (err instanceof Error && err.message.includes(SHARD_NOT_INITIALISED)) throw gone();
    throw err;
  }
  if (
    r &&
    typeof r === "object" &&
    "error" in r &&
    (r as { error: { message: string } }).error.message === SHARD_NOT_INITIALISED
  )
    throw gone();
  return r as T;
}

function rethrow(r: unknown): void {
  if (r && typeof r === "object" && "error" in r) {
    const e = (r as { error: { code: string; message: string; status: number } }).error;
    throw new LakehouseError(e.code, e.message, { status: e.status });
  }
}

api.openapi(
  createRoute({
    method: "post",
    path: "/index",
    summary: "Create a vector index",
    middleware: [jsonBody],
    request: { body: jsonRequest(CreateBody) },
    responses: {
      201: jsonResponse(IndexSchema, "created"),
      400: err("invalid field (the message names it and the value)"),
      409: err("exists"),
    },
  }),
  async (c) => {
    const b = c.req.valid("json");
    const cfg = lakehouseConfig(c.env).vectord;
    const name = b.name;
    const dimension = inRange("dimension", b.dimension, 1, cfg.max_dimension);
    const distance: Distance = b.distance ?? "cosine";
    const quantization: Quantization =
      b.quantization ?? (cfg.engine === "vectorize" ? "none" : (cfg.quantization as Quantization));
    if (cfg.engine === "vectorize" && quantization !== "none")
      throw badRequest(
        `quantization: ${JSON.stringify(quantization)} applies to the local engine only; Vectorize stores its own format`,
      );
    const spec: IndexSpec = {
      name,
      dimension,
      distance,
      m: b.m ?? cfg.default_m,
      ef_search: b.ef_search ?? cfg.default_ef_search,
      shards: cfg.engine === "vectorize" ? 1 : (b.shards ?? cfg.default_shards),
      engine: cfg.engine as IndexSpec["engine"],
      quantization,
    };
    if (spec.engine === "vectorize")
      resolveVectorize(c.env as never, dimension, distance, cfg.vectorize_prefix);
    const res = await registry(c.env).create(spec);
    if ("exists" in res) throw conflict(`vector index ${JSON.stringify(name)} already exists`);
    const rec = res.created as IndexRecord;
    if (rec.engine === "local") {
      await Promise.all(
        Array.from({ length: rec.shards }, (_, s) =>
          shardStub(c.env, name, s).init(shardSpec(c.env, rec, s)),
        ),
      );
    }
    return c.json(info(rec), 201);
  },
  fieldErrors,
);

api.openapi(
  createRoute({
    method: "get",
    path: "/index",
    summary: "List vector indexes",
    responses: { 200: jsonResponse(z.object({ indexes: z.array(IndexSchema) }), "indexes") },
  }),
  async (c) => {
    const list = (await registry(c.env).list()) as IndexRecord[];
    return c.json({ indexes: list.map(info) }, 200);
  },
);

api.openapi(
  createRoute({
    method: "get",
    path: "/index/{name}",
    summary: "One index",
    request: { params: NameParams },
    responses: {
      200: jsonResponse(IndexSchema, "the index"),
      400: err("invalid name"),
      404: err("missing"),
    },
  }),
  async (c) => c.json(info(await getIndex(c.env, c.req.valid("param").name)), 200),
  fieldErrors,
);

api.openapi(
  createRoute({
    method: "delete",
    path: "/index/{name}",
    summary: "Delete an index and its vectors",
    request: { params: NameParams },
    responses: { 204: { description: "deleted" }, 400: err("invalid name"), 404: err("missing") },
  }),
  async (c) => {
    const rec = await getIndex(c.env, c.req.valid("param").name);
    if (rec.engine === "local") {
      await Promise.all(
        Array.from({ length: rec.shards }, (_, s) => shardStub(c.env, rec.name, s).drop()),
      );
    } else {
      const v = resolveVectorize(
        c.env as never,
        rec.dimension,
        rec.distance,
        lakehouseConfig(c.env).vectord.vectorize_prefix,
      );
      for (;;) {
        const ids = (await registry(c.env).vectorizeIds(rec.name, 1000)) as string[];
        if (ids.length === 0) break;
        await vectorizeDelete(v, rec.name, ids);
        await registry(c.env).vectorizeRemove(rec.name, ids);
      }
    }
    await registry(c.env).remove(rec.name);
    return c.body(null, 204);
  },
  fieldErrors,
);

api.openapi(
  createRoute({
    method: "post",
    path: "/index/{name}/add",
    summary: "Upsert vectors (the whole batch is validated first)",
    middleware: [jsonBody],
    request: { params: NameParams, body: jsonRequest(AddBody) },
    responses: {
      200: jsonResponse(z.object({ added: z.number().int(), count: z.number().int() }), "added"),
      400: err("invalid item (the message names it, e.g. items[1].vector: dimension mismatch)"),
      404: err("missing"),
      507: err("shard memory bound"),
    },
  }),
  async (c) => {
    const rec = await getIndex(c.env, c.req.valid("param").name);
    // The schema validated every item's shape; the index's checks run on the whole batch before anything is written.
    const maxMeta = lakehouseConfig(c.env).vectord.max_metadata_bytes;
    const parsed: ShardItem[] = c.req.valid("json").items.map((it, i) => {
      if (it.metadata != null) {
        const bytes = utf8Length(JSON.stringify(it.metadata));
        if (bytes > maxMeta)
          throw badRequest(
            `items[${i}].metadata: ${bytes} bytes of JSON, over the ${maxMeta}-byte cap ([vectord].max_metadata_bytes)`,
          );
      }
      const vector = indexVector(it.vector, rec.dimension, rec.distance, `items[${i}].vector`);
      return it.metadata == null
        ? { id: it.id, vector }
        : { id: it.id, vector, metadata: it.metadata };
    });
    if (rec.engine === "vectorize") {
      const v = resolveVectorize(
        c.env as never,
        rec.dimension,
        rec.distance,
        lakehouseConfig(c.env).vectord.vectorize_prefix,
      );
      await vectorizeUpsert(v, rec.name, parsed);
      const count = (await registry(c.env).vectorizeAdd(
        rec.name,
        parsed.map((p) => p.id),
      )) as number;
      return c.json({ added: parsed.length, count }, 200);
    }
    const byShard = new Map<number, ShardItem[]>();
    for (const it of parsed) {
      const s = shardOf(it.id, rec.shards);
      if (!byShard.has(s)) byShard.set(s, []);
      byShard.get(s)!.push(it);
    }
    const results = await Promise.all(
      [...byShard].map(async ([s, batch]) => {
        const stub = shardStub(c.env, rec.name, s);
        const r = await onShard<ShardResult<{ added: number; count: number }>>(rec.name, () =>
          stub.add(batch),
        );
        rethrow(r);
        await registry(c.env).setShardCount(rec.name, s, (r as { count: number }).count);
        return r as { added: number; count: number };
      }),
    );
    const after = await getIndex(c.env, rec.name);
    return c.json({ added: results.reduce((a, r) => a + r.added, 0), count: after.count }, 200);
  },
  fieldErrors,
);

api.openapi(
  createRoute({
    method: "post",
    path: "/index/{name}/search",
    summary: "k nearest neighbours, closest first; the filter applies before top-k",
    middleware: [jsonBody],
    request: { params: NameParams, body: jsonRequest(SearchBody) },
    responses: {
      200: jsonResponse(z.object({ results: z.array(VectorHitSchema) }), "hits"),
      400: err("invalid query (the message names the field and value)"),
      404: err("missing"),
    },
  }),
  async (c) => {
    const rec = await getIndex(c.env, c.req.valid("param").name);
    // The schema ran compileFilter on the filter: a malformed one was a 400 before any shard is asked.
    const body = c.req.valid("json");
    const cfg = lakehouseConfig(c.env).vectord;
    const vector = indexVector(body.vector, rec.dimension, rec.distance, "vector");
    const maxK = rec.engine === "vectorize" ? Math.min(cfg.max_k, VECTORIZE_MAX_K) : cfg.max_k;
    const k = body.k === undefined ? 10 : inRange("k", body.k, 1, maxK);
    const filter = body.filter ?? undefined;
    const ef = body.ef_search;
    let results: VectorHit[];
    if (rec.engine === "vectorize") {
      const v = resolveVectorize(c.env as never, rec.dimension, rec.distance, cfg.vectorize_prefix);
      results = await vectorizeQuery(v, rec.name, rec.distance, vector, k, filter);
    } else {
      const perShard = await Promise.all(
        Array.from({ length: rec.shards }, (_, s) =>
          onShard<VectorHit[]>(rec.name, () =>
            shardStub(c.env, rec.name, s).search(vector, k, filter, ef),
          ),
        ),
      );
      results = perShard
        .flat()
        .sort((a, b) => a.distance - b.distance)
        .slice(0, k);
    }
    return c.json({ results }, 200);
  },
  fieldErrors,
);

api.openapi(
  createRoute({
    method: "post",
    path: "/index/{name}/delete",
    summary: "Delete vectors by id",
    middleware: [jsonBody],
    request: { params: NameParams, body: jsonRequest(DeleteBody) },
    responses: {
      200: jsonResponse(z.object({ deleted: z.number().int() }), "deleted"),
      400: err("invalid ids"),
      404: err("missing"),
    },
  }),
  async (c) => {
    const rec = await getIndex(c.env, c.req.valid("param").name);
    const ids = c.req.valid("json").ids;
    if (rec.engine === "vectorize") {
      const present = (await registry(c.env).vectorizeHas(rec.name, ids)) as string[];
      if (present.length > 0) {
        const v = resolveVectorize(
          c.env as never,
          rec.dimension,
          rec.distance,
          lakehouseConfig(c.env).vectord.vectorize_prefix,
        );
        await vectorizeDelete(v, rec.name, present);
        await registry(c.env).vectorizeRemove(rec.name, present);
      }
      return c.json({ deleted: present.length }, 200);
    }
    const byShard = new Map<number, string[]>();
    for (const id of new Set(ids)) {
      const s = shardOf(id, rec.shards);
      if (!byShard.has(s)) byShard.set(s, []);
      byShard.get(s)!.push(id);
    }
    let deleted = 0;
    await Promise.all(
      [...byShard].map(async ([s, batch]) => {
        const r = await onShard<{ deleted: number; count: number }>(rec.name, () =>
          shardStub(c.env, rec.name, s).remove(batch),
        );
        deleted += r.deleted;
        await registry(c.env).setShardCount(rec.name, s, r.count);
      }),
    );
    return c.json({ deleted }, 200);
  },
  fieldErrors,
);

/** Memory and graph statistics of each shard (local engine). */
api.openapi(
  createRoute({
    method: "get",
    path: "/index/{name}/stats",
    summary: "Per-shard count, graph bytes, tombstones, snapshot size (local engine)",
    request: { params: NameParams },
    responses: {
      200: jsonResponse(z.record(z.string(), z.unknown()), "the index and its shards' statistics"),
      400: err("invalid name"),
      404: err("missing"),
    },
  }),
  async (c) => {
    const rec = await getIndex(c.env, c.req.valid("param").name);
    if (rec.engine !== "local")
      return c.json({ ...info(rec), shards: [] } as Record<string, unknown>, 200);
    const shards = await Promise.all(
      Array.from({ length: rec.shards }, (_, s) =>
        onShard<Record<string, unknown>>(rec.name, () => shardStub(c.env, rec.name, s).stats()),
      ),
    );
    return c.json(
      {
        ...info(rec),
        max_vectors_per_shard: shardSpec(c.env, rec, 0).max_vectors,
        shard_stats: shards,
      } as Record<string, unknown>,
      200,
    );
  },
  fieldErrors,
);

export { IndexRegistry } from "./index-registry";
export { VectorIndex } from "./vector-index";
export default app satisfies ExportedHandler<Env>;
