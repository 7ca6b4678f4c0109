// lakehouse-vectors: named vector indexes (DESIGN §6 Vectors).
// The registry (IndexRegistry DO) knows every index; the data lives either in VectorIndex
// Durable Objects (engine "local": one per shard, HNSW in memory, vectors in SQLite) or in
// Vectorize namespaces (engine "vectorize"). The engine is chosen per index at creation
// from [vectord].engine.
import { documentVectors } from "./openapi";
import { createServiceApp, readJsonObject } from "../../../shared/app";
import { LakehouseError, badRequest, conflict, notFound } from "../../../shared/errors";
import { lakehouseConfig } from "../../../shared/lakehouse-config";
import type { Distance, VectorHit, VectorIndexInfo } from "../../../shared/types";
import { compileFilter } from "./filter";
import type { Quantization } from "./hnsw";
import type { IndexRecord, IndexSpec } from "./indexRegistry";
import type { ShardItem, ShardSpec } from "./vectorIndex";
import { VECTORIZE_MAX_K, resolveVectorize, vectorizeDelete, vectorizeQuery, vectorizeUpsert } from "./vectorize-engine";

const { app, api } = createServiceApp<Env>("vectors", "vectors");
documentVectors(api);

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const DISTANCES: readonly Distance[] = ["cosine", "euclidean", "dot"];
const QUANTIZATIONS: readonly Quantization[] = ["none", "int8"];
const MAX_ID_CHARS = 512;

function registry(env: Env) {
  return env.INDEX_REGISTRY.get(env.INDEX_REGISTRY.idFromName("registry"));
}

function shardStub(env: Env, name: string, shard: number) {
  return env.VECTOR_INDEX.get(env.VECTOR_INDEX.idFromName(`${name}#${shard}`));
}

function checkName(name: string): string {
  if (!NAME.test(name)) throw badRequest(`name: ${JSON.stringify(name)} is not a valid index name (1–64 of A-Z a-z 0-9 _ . -, starting with a letter or digit)`);
  return name;
}

function intField(body: Record<string, unknown>, field: string, min: number, max: number, fallback?: number): number {
  const v = body[field];
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v)) throw badRequest(`${field}: expected an integer, got ${JSON.stringify(v)}`);
  if (v < min || v > max) throw badRequest(`${field}: must be between ${min} and ${max}, got ${v}`);
  return v;
}

/** Validates one vector: an array of `dimension` finite numbers, not all zero under cosine. */
export function parseVector(v: unknown, dimension: number, distance: Distance, where: string): Float32Array {
  if (!Array.isArray(v)) throw badRequest(`${where}: expected an array of ${dimension} numbers`);
  if (v.length !== dimension) throw badRequest(`${where}: dimension mismatch: expected ${dimension}, got ${v.length}`);
  const out = new Float32Array(dimension);
  let nonZero = false;
  for (let i = 0; i < dimension; i++) {
    const x = v[i];
    if (typeof x !== "number") throw badRequest(`${where}[${i}]: expected a number, got ${JSON.stringify(x)}`);
    if (!Number.isFinite(x)) throw badRequest(`${where}[${i}]: ${x} is not finite (NaN and Infinity are rejected)`);
    out[i] = x;
    if (!Number.isFinite(out[i]!)) throw badRequest(`${where}[${i}]: ${x} overflows a 32-bit float`);
    if (x !== 0) nonZero = true;
  }
  if (!nonZero && distance === "cosine") throw badRequest(`${where}: zero vector has no direction under cosine distance`);
  return out;
}

function info(rec: IndexRecord): VectorIndexInfo & Record<string, unknown> {
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

async function getIndex(env: Env, name: string): Promise<IndexRecord> {
  const rec = await registry(env).get(checkName(name));
  if (!rec) throw notFound(`vector index ${JSON.stringify(name)} does not exist`);
  return rec as IndexRecord;
}

/**
 * Vectors one shard may hold within [vectord].shard_memory_mb: the vector in the kernel's
 * memory (float32, or an int8 record of 16 + dimension rounded up to 16 bytes), its level-0
 * links and ~256 B of id/metadata.
 */
export function shardCapacity(dimension: number, m: number, memoryMb: number, quantization: Quantization = "none"): number {
  const vectorBytes = quantization === "int8" ? 16 + Math.ceil(dimension / 16) * 16 : dimension * 4;
  const perVector = vectorBytes + (2 * m + 1) * 4 + 256;
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

function rethrow(r: unknown): void {
  if (r && typeof r === "object" && "error" in r) {
    const e = (r as { error: { code: string; message: string; status: number } }).error;
    throw new LakehouseError(e.code, e.message, { status: e.status });
  }
}

// POST /index — create
api.post("/index", async (c) => {
  const body = await readJsonObject(c);
  const cfg = lakehouseConfig(c.env).vectord;
  if (typeof body.name !== "string") throw badRequest(`name: expected a string, got ${JSON.stringify(body.name)}`);
  const name = checkName(body.name);
  const dimension = intField(body, "dimension", 1, cfg.max_dimension);
  const distance = (body.distance ?? "cosine") as Distance;
  if (!DISTANCES.includes(distance)) throw badRequest(`distance: unknown ${JSON.stringify(body.distance)} (expected cosine, euclidean or dot)`);
  const quantization = (body.quantization ?? (cfg.engine === "vectorize" ? "none" : cfg.quantization)) as Quantization;
  if (!QUANTIZATIONS.includes(quantization)) throw badRequest(`quantization: unknown ${JSON.stringify(body.quantization)} (expected "none" or "int8")`);
  if (cfg.engine === "vectorize" && quantization !== "none") throw badRequest(`quantization: ${JSON.stringify(quantization)} applies to the local engine only; Vectorize stores its own format`);
  const spec: IndexSpec = {
    name,
    dimension,
    distance,
    m: intField(body, "m", 2, 128, cfg.default_m),
    ef_search: intField(body, "ef_search", 1, 4096, cfg.default_ef_search),
    shards: cfg.engine === "vectorize" ? 1 : intField(body, "shards", 1, 64, cfg.default_shards),
    engine: cfg.engine as IndexSpec["engine"],
    quantization,
  };
  if (spec.engine === "vectorize") resolveVectorize(c.env as never, dimension, distance, cfg.vectorize_prefix);
  const res = await registry(c.env).create(spec);
  if ("exists" in res) throw conflict(`vector index ${JSON.stringify(name)} already exists`);
  const rec = res.created as IndexRecord;
  if (rec.engine === "local") {
    await Promise.all(Array.from({ length: rec.shards }, (_, s) => shardStub(c.env, name, s).init(shardSpec(c.env, rec, s))));
  }
  return c.json(info(rec), 201);
});

api.get("/index", async (c) => {
  const list = (await registry(c.env).list()) as IndexRecord[];
  return c.json({ indexes: list.map(info) });
});

api.get("/index/:name", async (c) => c.json(info(await getIndex(c.env, c.req.param("name")))));

api.delete("/index/:name", async (c) => {
  const rec = await getIndex(c.env, c.req.param("name"));
  if (rec.engine === "local") {
    await Promise.all(Array.from({ length: rec.shards }, (_, s) => shardStub(c.env, rec.name, s).drop()));
  } else {
    const v = resolveVectorize(c.env as never, rec.dimension, rec.distance, lakehouseConfig(c.env).vectord.vectorize_prefix);
    for (;;) {
      const ids = (await registry(c.env).vectorizeIds(rec.name, 1000)) as string[];
      if (ids.length === 0) break;
      await vectorizeDelete(v, rec.name, ids);
      await registry(c.env).vectorizeRemove(rec.name, ids);
    }
  }
  await registry(c.env).remove(rec.name);
  return c.body(null, 204);
});

api.post("/index/:name/add", async (c) => {
  const rec = await getIndex(c.env, c.req.param("name"));
  const body = await readJsonObject(c);
  const items = body.items;
  if (!Array.isArray(items) || items.length === 0) throw badRequest("items: expected a non-empty array of {id, vector, metadata?}");
  // Validate the whole batch before anything is written.
  const parsed: ShardItem[] = items.map((raw, i) => {
    const where = `items[${i}]`;
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw badRequest(`${where}: expected an object {id, vector, metadata?}`);
    const it = raw as Record<string, unknown>;
    if (typeof it.id !== "string" || it.id.length === 0 || it.id.length > MAX_ID_CHARS) {
      throw badRequest(`${where}.id: expected a non-empty string of at most ${MAX_ID_CHARS} characters, got ${JSON.stringify(it.id)}`);
    }
    const vector = parseVector(it.vector, rec.dimension, rec.distance, `${where}.vector`);
    const md = it.metadata;
    if (md !== undefined && md !== null && (typeof md !== "object" || Array.isArray(md))) throw badRequest(`${where}.metadata: expected an object`);
    return md === undefined || md === null ? { id: it.id, vector } : { id: it.id, vector, metadata: md as Record<string, unknown> };
  });
  if (rec.engine === "vectorize") {
    const v = resolveVectorize(c.env as never, rec.dimension, rec.distance, lakehouseConfig(c.env).vectord.vectorize_prefix);
    await vectorizeUpsert(v, rec.name, parsed);
    const count = (await registry(c.env).vectorizeAdd(rec.name, parsed.map((p) => p.id))) as number;
    return c.json({ added: parsed.length, count });
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
      const r = await stub.add(batch);
      rethrow(r);
      await registry(c.env).setShardCount(rec.name, s, (r as { count: number }).count);
      return r as { added: number; count: number };
    }),
  );
  const after = await getIndex(c.env, rec.name);
  return c.json({ added: results.reduce((a, r) => a + r.added, 0), count: after.count });
});

api.post("/index/:name/search", async (c) => {
  const rec = await getIndex(c.env, c.req.param("name"));
  const body = await readJsonObject(c);
  const cfg = lakehouseConfig(c.env).vectord;
  const vector = parseVector(body.vector, rec.dimension, rec.distance, "vector");
  const maxK = rec.engine === "vectorize" ? Math.min(cfg.max_k, VECTORIZE_MAX_K) : cfg.max_k;
  const k = intField(body, "k", 1, maxK, 10);
  compileFilter(body.filter); // a malformed filter is a 400 before any shard is asked
  const filter = body.filter as Record<string, unknown> | undefined;
  const ef = body.ef_search === undefined ? undefined : intField(body, "ef_search", 1, 4096);
  let results: VectorHit[];
  if (rec.engine === "vectorize") {
    const v = resolveVectorize(c.env as never, rec.dimension, rec.distance, cfg.vectorize_prefix);
    results = await vectorizeQuery(v, rec.name, rec.distance, vector, k, filter ?? undefined);
  } else {
    const perShard = await Promise.all(
      Array.from({ length: rec.shards }, (_, s) => shardStub(c.env, rec.name, s).search(vector, k, filter, ef) as Promise<VectorHit[]>),
    );
    results = perShard.flat().sort((a, b) => a.distance - b.distance).slice(0, k);
  }
  return c.json({ results });
});

api.post("/index/:name/delete", async (c) => {
  const rec = await getIndex(c.env, c.req.param("name"));
  const body = await readJsonObject(c);
  const ids = body.ids;
  if (!Array.isArray(ids) || !ids.every((id) => typeof id === "string")) throw badRequest("ids: expected an array of strings");
  if (rec.engine === "vectorize") {
    const present = (await registry(c.env).vectorizeHas(rec.name, ids)) as string[];
    if (present.length > 0) {
      const v = resolveVectorize(c.env as never, rec.dimension, rec.distance, lakehouseConfig(c.env).vectord.vectorize_prefix);
      await vectorizeDelete(v, rec.name, present);
      await registry(c.env).vectorizeRemove(rec.name, present);
    }
    return c.json({ deleted: present.length });
  }
  const byShard = new Map<number, string[]>();
  for (const id of new Set(ids as string[])) {
    const s = shardOf(id, rec.shards);
    if (!byShard.has(s)) byShard.set(s, []);
    byShard.get(s)!.push(id);
  }
  let deleted = 0;
  await Promise.all(
    [...byShard].map(async ([s, batch]) => {
      const r = await shardStub(c.env, rec.name, s).remove(batch);
      deleted += r.deleted;
      await registry(c.env).setShardCount(rec.name, s, r.count);
    }),
  );
  return c.json({ deleted });
});

/** Memory and graph statistics of each shard (local engine). */
api.get("/index/:name/stats", async (c) => {
  const rec = await getIndex(c.env, c.req.param("name"));
  if (rec.engine !== "local") return c.json({ ...info(rec), shards: [] });
  const shards = await Promise.all(Array.from({ length: rec.shards }, (_, s) => shardStub(c.env, rec.name, s).stats()));
  return c.json({ ...info(rec), max_vectors_per_shard: shardSpec(c.env, rec, 0).max_vectors, shard_stats: shards });
});

export { VectorIndex } from "./vectorIndex";
export { IndexRegistry } from "./indexRegistry";
export { FakeVectorizeCosine, FakeVectorizeEuclidean, FakeVectorizeDot } from "../../../test/fakes/vectorize/index";
export default app satisfies ExportedHandler<Env>;
