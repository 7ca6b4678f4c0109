// VectorIndex: one shard of one logical vector index on the local engine.
// Vectors and metadata are durable in the object's SQLite (written before the answer
// leaves); the HNSW graph lives in memory and is snapshotted to SQLite by an alarm shortly
// after writes, so a restarted object reloads the graph instead of rebuilding it (vectors
// added after the last snapshot are re-inserted, deletes after it re-applied).
// Every method is synchronous inside the object (SQLite and the graph both), so calls
// never interleave.
import { DurableObject } from "cloudflare:workers";
import { MIGRATIONS } from "../../../migrations/vector-index/index";
import { applyMigrations } from "../../../shared/migrations";
import distanceKernel from "./distance.wasm";
import { compileFilter, matches } from "./filter";
import { Hnsw, type Metric, type Neighbour, type Quantization } from "./hnsw";

/**
 * What a shard answers (as a ShardResult error, not a throw) when asked for data it does not
 * hold: it was never created, or its index was deleted (drop) while a request that had already
 * found the index was on its way. The Worker turns it into the index's 404 (onShard, index.ts).
 */
export const SHARD_NOT_INITIALISED = "vector index shard is not initialised";
const NOT_INITIALISED = {
  error: { code: "not_found", message: SHARD_NOT_INITIALISED, status: 404 },
} as const;

export interface ShardSpec {
  name: string;
  shard: number;
  dimension: number;
  distance: Metric;
  m: number;
  ef_search: number;
  ef_construction: number;
  /** Most vectors this shard accepts (the memory bound). */
  max_vectors: number;
  /** How the graph holds vectors in memory (absent in shards created before it existed: "none"). */
  quantization?: Quantization;
}

export interface ShardItem {
  id: string;
  vector: Float32Array;
  metadata?: Record<string, unknown>;
}

export interface ShardHit {
  id: string;
  distance: number;
  metadata?: Record<string, unknown>;
}

export type ShardResult<T> = T | { error: { code: string; message: string; status: number } };

const CHUNK = 1024 * 1024;
const SNAPSHOT_DELAY_MS = 2000;
/** Below this many matching vectors a filtered search is exact over the matches. */
const EXACT_FILTER_LIMIT = 4096;

type Row = { node: number; id: string; vector: ArrayBuffer; metadata: string | null; live: number };

/**
 * Bytes one vector costs a shard besides its metadata: the vector in the kernel's memory
 * (float32, or an int8 record of 16 + dimension rounded up to 16 bytes), its level-0 links
 * and ~256 B for the id and bookkeeping. shardCapacity (index.ts) divides the shard's memory
 * budget by it; the shard's add() checks the same budget with the metadata counted too.
 */
export function perVectorBytes(
  dimension: number,
  m: number,
  quantization: Quantization = "none",
): number {
  const vectorBytes = quantization === "int8" ? 16 + Math.ceil(dimension / 16) * 16 : dimension * 4;
  return vectorBytes + (2 * m + 1) * 4 + 256;
}

/**
 * Heap bytes held per byte of metadata JSON: metadata lives in memory as parsed objects
 * (property maps, boxed numbers, strings in one or two bytes per character), about twice
 * its JSON text.
 */
export const METADATA_HEAP_FACTOR = 2;

export class VectorIndex extends DurableObject<Env> {
  private spec: ShardSpec | undefined;
  private hnsw: Hnsw | undefined;
  private ids: string[] = [];
  private metas: (Record<string, unknown> | undefined)[] = [];
  /** JSON bytes of each live node's metadata, and their sum (counted in the memory bound). */
  private metaSizes: number[] = [];
  private metaBytes = 0;
  private byId = new Map<string, number>();
  /** Graph size at the last snapshot (nodes below it are in graph_chunks). */
  private snapshotSize = 0;
  private dirty = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      applyMigrations(ctx.storage, MIGRATIONS);
    });
  }

  private sql(): SqlStorage {
    return this.ctx.storage.sql;
  }

  private getMeta(key: string): string | undefined {
    const rows = this.sql()
      .exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key)
      .toArray();
    return rows[0]?.value;
  }

  private setMeta(key: string, value: string): void {
    this.sql().exec(
      "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      key,
      value,
    );
  }

  /** Creates the shard (idempotent with the same spec). */
  init(spec: ShardSpec): { count: number } {
    const existing = this.getMeta("spec");
    if (!existing) {
      this.sql().exec("DELETE FROM vectors");
      this.sql().exec("DELETE FROM graph_chunks");
      this.sql().exec("DELETE FROM meta");
      this.setMeta("spec", JSON.stringify(spec));
      this.spec = undefined;
      this.hnsw = undefined;
    }
    return { count: this.load().liveCount };
  }

  private fresh(spec: ShardSpec): Hnsw {
    return new Hnsw({
      dimension: spec.dimension,
      metric: spec.distance,
      m: spec.m,
      efConstruction: spec.ef_construction,
      efSearch: spec.ef_search,
      seed: 1 + spec.shard,
      initialCapacity: 1024,
      kernel: distanceKernel,
      quantization: spec.quantization ?? "none",
    });
  }

  /** The in-memory graph, loaded from SQLite on first use after a (re)start. */
  private load(): Hnsw {
    if (this.hnsw) return this.hnsw;
    const specText = this.getMeta("spec");
    if (!specText) throw new Error(SHARD_NOT_INITIALISED);
    const spec = JSON.parse(specText) as ShardSpec;
    this.spec = spec;
    const h = this.fresh(spec);
    this.ids = [];
    this.metas = [];
    this.metaSizes = [];
    this.metaBytes = 0;
    this.byId = new Map();
    const graphSize = Number(this.getMeta("graph_size") ?? "0");
    let restored = 0;
    if (graphSize > 0) {
      try {
        h.importGraph(decodeGraph(this.readChunks()));
        restored = graphSize;
      } catch (err) {
        console.error(
          `[vectors] snapshot of ${spec.name}#${spec.shard} unreadable, rebuilding`,
          err,
        );
        restored = 0;
      }
    }
    const g = restored > 0 ? h : this.fresh(spec);
    for (const row of this.sql().exec<Row>(
      "SELECT node, id, vector, metadata, live FROM vectors ORDER BY node",
    )) {
      const vec = new Float32Array(row.vector);
      if (row.node < restored) g.setVector(row.node, vec);
      else {
        const node = g.add(vec, true);
        if (node !== row.node)
          throw new Error(`vector index ${spec.name}: node numbering diverged at ${row.node}`);
      }
      this.ids[row.node] = row.id;
      // Tombstoned rows' metadata is never shown again: only live nodes hold theirs.
      if (row.live) {
        this.setNodeMeta(row.node, row.metadata);
        this.byId.set(row.id, row.node);
      } else g.remove(row.node);
    }
    this.hnsw = g;
    this.snapshotSize = restored;
    if (g.size > restored) this.scheduleSnapshot();
    return g;
  }

  private setNodeMeta(node: number, text: string | null): void {
    this.clearNodeMeta(node);
    if (text === null) return;
    this.metas[node] = JSON.parse(text) as Record<string, unknown>;
    this.metaSizes[node] = text.length;
    this.metaBytes += text.length;
  }

  private clearNodeMeta(node: number): void {
    this.metaBytes -= this.metaSizes[node] ?? 0;
    this.metaSizes[node] = 0;
    this.metas[node] = undefined;
  }

  /** Memory the shard's graph and metadata take, by the same estimate as its budget. */
  private memoryUse(nodes: number, metaBytes: number): number {
    const spec = this.spec!;
    return (
      nodes * perVectorBytes(spec.dimension, spec.m, spec.quantization) +
      METADATA_HEAP_FACTOR * metaBytes
    );
  }

  private readChunks(): Uint8Array {
    const parts = this.sql()
      .exec<{ data: ArrayBuffer }>("SELECT data FROM graph_chunks ORDER BY part")
      .toArray();
    const total = parts.reduce((s, p) => s + p.data.byteLength, 0);
    const out = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      out.set(new Uint8Array(p.data), o);
      o += p.data.byteLength;
    }
    return out;
  }

  private scheduleSnapshot(): void {
    this.dirty = true;
    void this.ctx.storage.getAlarm().then((at) => {
      if (at === null) return this.ctx.storage.setAlarm(Date.now() + SNAPSHOT_DELAY_MS);
    });
  }

  /** Writes the graph snapshot (the alarm fires shortly after writes settle). */
  override async alarm(): Promise<void> {
    if (!this.dirty || !this.hnsw) return;
    this.writeSnapshot();
  }

  private writeSnapshot(): void {
    const h = this.hnsw!;
    const bytes = encodeGraph(h);
    this.ctx.storage.transactionSync(() => {
      this.sql().exec("DELETE FROM graph_chunks");
      for (let part = 0, o = 0; o < bytes.length; part++, o += CHUNK) {
        this.sql().exec(
          "INSERT INTO graph_chunks (part, data) VALUES (?, ?)",
          part,
          bytes.slice(o, o + CHUNK),
        );
      }
      this.setMeta("graph_size", String(h.size));
    });
    this.snapshotSize = h.size;
    this.dirty = false;
  }

  /** Whether the shard holds an index (created by init, not dropped since). */
  private initialised(): boolean {
    return this.hnsw !== undefined || this.getMeta("spec") !== undefined;
  }

  count(): number {
    return this.load().liveCount;
  }

  /** Upserts a validated batch: all of it or nothing. */
  add(items: ShardItem[]): ShardResult<{ added: number; count: number }> {
    if (!this.initialised()) return NOT_INITIALISED;
    let h = this.load();
    const spec = this.spec!;
    // Every item takes a new graph node (an upsert tombstones the old one): the memory bound
    // counts nodes, tombstones included, so compact first when tombstones would make room.
    // Metadata counts too: its JSON bytes × METADATA_HEAP_FACTOR against the same budget
    // (max_vectors × perVectorBytes ≈ [vectord].shard_memory_mb), so a shard full of
    // maximal metadata stays inside its memory.
    const metaTexts = items.map((it) =>
      it.metadata === undefined ? null : JSON.stringify(it.metadata),
    );
    let freed = 0;
    for (const it of items) {
      const old = this.byId.get(it.id);
      if (old !== undefined) freed += this.metaSizes[old] ?? 0;
    }
    const added = metaTexts.reduce((n, t) => n + (t === null ? 0 : t.length), 0);
    const budget = spec.max_vectors * perVectorBytes(spec.dimension, spec.m, spec.quantization);
    const over = () =>
      h.size + items.length > spec.max_vectors ||
      this.memoryUse(h.size + items.length, this.metaBytes - freed + added) > budget;
    if (over() && h.deletedCount > 0) {
      this.compact();
      h = this.hnsw!;
    }
    if (over()) {
      return {
        error: {
          code: "insufficient_storage",
          status: 507,
          message: `index ${spec.name} shard ${spec.shard} holds ${h.size} vectors and ${this.metaBytes} bytes of metadata and cannot take ${items.length} more within its memory bound of ${spec.max_vectors} vectors (${spec.dimension}-d; ${budget} bytes with metadata counted ×${METADATA_HEAP_FACTOR}; [vectord].shard_memory_mb); create the index with more shards`,
        },
      };
    }
    const sql = this.sql();
    this.ctx.storage.transactionSync(() => {
      items.forEach((it, i) => {
        const old = this.byId.get(it.id);
        if (old !== undefined) {
          sql.exec("UPDATE vectors SET live = 0 WHERE node = ?", old);
          h.remove(old);
          this.clearNodeMeta(old);
        }
        // The row keeps the vector as the graph was given it (normalised under cosine), in
        // float32: reloads re-add it unchanged, and int8 searches rerank with it.
        const stored = h.prepare(it.vector);
        const node = h.add(stored, true);
        const meta = metaTexts[i]!;
        sql.exec(
          "INSERT INTO vectors (node, id, vector, metadata, live) VALUES (?, ?, ?, ?, 1)",
          node,
          it.id,
          stored.buffer,
          meta,
        );
        this.ids[node] = it.id;
        this.metas[node] = it.metadata;
        this.metaSizes[node] = meta === null ? 0 : meta.length;
        this.metaBytes += this.metaSizes[node]!;
        this.byId.set(it.id, node);
      });
    });
    this.scheduleSnapshot();
    this.maybeCompact();
    return { added: items.length, count: h.liveCount };
  }

  remove(ids: string[]): ShardResult<{ deleted: number; count: number }> {
    if (!this.initialised()) return NOT_INITIALISED;
    const h = this.load();
    let deleted = 0;
    this.ctx.storage.transactionSync(() => {
      for (const id of ids) {
        const node = this.byId.get(id);
        if (node === undefined) continue;
        this.sql().exec("UPDATE vectors SET live = 0 WHERE node = ?", node);
        h.remove(node);
        this.clearNodeMeta(node);
        this.byId.delete(id);
        deleted++;
      }
    });
    if (deleted > 0) {
      this.scheduleSnapshot();
      this.maybeCompact();
    }
    return { deleted, count: h.liveCount };
  }

  /** Rebuilds from the live vectors once tombstones are over 30% of the graph. */
  private maybeCompact(): void {
    const h = this.hnsw!;
    if (h.deletedCount < 256 || h.deletedCount < 0.3 * h.size) return;
    this.compact();
  }

  private compact(): void {
    const spec = this.spec!;
    const g = this.fresh(spec);
    const rows = this.sql()
      .exec<Row>(
        "SELECT node, id, vector, metadata, live FROM vectors WHERE live = 1 ORDER BY node",
      )
      .toArray();
    this.ctx.storage.transactionSync(() => {
      this.sql().exec("DELETE FROM vectors");
      this.sql().exec("DELETE FROM graph_chunks");
      this.setMeta("graph_size", "0");
      this.ids = [];
      this.metas = [];
      this.metaSizes = [];
      this.metaBytes = 0;
      this.byId = new Map();
      for (const row of rows) {
        const node = g.add(new Float32Array(row.vector), true);
        this.sql().exec(
          "INSERT INTO vectors (node, id, vector, metadata, live) VALUES (?, ?, ?, ?, 1)",
          node,
          row.id,
          row.vector,
          row.metadata,
        );
        this.ids[node] = row.id;
        this.setNodeMeta(node, row.metadata);
        this.byId.set(row.id, node);
      }
    });
    this.hnsw = g;
    this.snapshotSize = 0;
    this.scheduleSnapshot();
  }

  /**
   * k nearest live vectors. A filter is applied before top-k: few matches → exact over
   * the matches; many → graph search that only admits matches, falling back to exact
   * when the walk finds fewer than min(k, matches).
   */
  search(vector: Float32Array, k: number, filter?: unknown, ef?: number): ShardResult<ShardHit[]> {
    if (!this.initialised()) return NOT_INITIALISED;
    const h = this.load();
    const q = h.prepare(vector);
    const efSearch = Math.max(ef ?? this.spec!.ef_search, k);
    // An int8 graph finds ef candidates by approximate distances; the float32 rows rerank them.
    const want = h.quantization === "int8" ? efSearch : k;
    let found: Neighbour[];
    const conditions = compileFilter(filter);
    if (conditions.length === 0) {
      found = h.liveCount <= efSearch ? h.exact(q, want) : h.search(q, want, efSearch);
    } else {
      const matching: number[] = [];
      for (const node of this.byId.values())
        if (matches(conditions, this.metas[node])) matching.push(node);
      if (matching.length <= EXACT_FILTER_LIMIT || matching.length <= efSearch) {
        found = h.exact(q, want, matching);
      } else {
        const allowed = new Uint8Array(h.size);
        for (const n of matching) allowed[n] = 1;
        found = h.search(q, want, efSearch, (n) => allowed[n] === 1);
        if (found.length < Math.min(k, matching.length)) found = h.exact(q, want, matching);
      }
    }
    if (h.quantization === "int8") found = this.rerank(h, q, found, k);
    return found.map((f) => {
      const hit: ShardHit = { id: this.ids[f.node]!, distance: h.publicDistance(f.distance) };
      const meta = this.metas[f.node];
      if (meta !== undefined) hit.metadata = meta;
      return hit;
    });
  }

  /** Exact distances from the float32 rows of the candidates, best k first (int8 graphs). */
  private rerank(h: Hnsw, q: Float32Array, found: Neighbour[], k: number): Neighbour[] {
    if (found.length === 0) return found;
    const vectors = new Map<number, Float32Array>();
    const rows = this.sql().exec<{ node: number; vector: ArrayBuffer }>(
      "SELECT node, vector FROM vectors WHERE node IN (SELECT value FROM json_each(?))",
      JSON.stringify(found.map((f) => f.node)),
    );
    for (const row of rows) vectors.set(row.node, new Float32Array(row.vector));
    return h.rerank(q, found, k, (node) => vectors.get(node)!);
  }

  /** Empties the shard (the index is being deleted). */
  async drop(): Promise<void> {
    this.hnsw = undefined;
    this.spec = undefined;
    this.ids = [];
    this.metas = [];
    this.byId = new Map();
    this.dirty = false;
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    applyMigrations(this.ctx.storage, MIGRATIONS);
  }

  /** Memory held by the graph and its arrays, for /index/<name> stats. */
  stats(): ShardResult<{
    count: number;
    graph_bytes: number;
    deleted: number;
    snapshot_size: number;
    metadata_bytes: number;
  }> {
    if (!this.initialised()) return NOT_INITIALISED;
    const h = this.load();
    return {
      count: h.liveCount,
      graph_bytes: h.bytes(),
      deleted: h.deletedCount,
      snapshot_size: this.snapshotSize,
      metadata_bytes: this.metaBytes,
    };
  }
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** Graph snapshot layout: Int32 header [size, entry, maxLevel, upLen], levels, deleted (each padded to 4), links0, linksUp. */
export function encodeGraph(h: Hnsw): Uint8Array {
  const g = h.exportGraph();
  const total = 16 + pad4(g.size) * 2 + g.links0.byteLength + g.linksUp.byteLength;
  const out = new Uint8Array(total);
  const header = new Int32Array(out.buffer, 0, 4);
  header[0] = g.size;
  header[1] = g.entry;
  header[2] = g.maxLevel;
  header[3] = g.linksUp.length;
  let o = 16;
  out.set(g.levels, o);
  o += pad4(g.size);
  out.set(g.deleted, o);
  o += pad4(g.size);
  out.set(new Uint8Array(g.links0.buffer, g.links0.byteOffset, g.links0.byteLength), o);
  o += g.links0.byteLength;
  out.set(new Uint8Array(g.linksUp.buffer, g.linksUp.byteOffset, g.linksUp.byteLength), o);
  return out;
}

export function decodeGraph(bytes: Uint8Array): Parameters<Hnsw["importGraph"]>[0] {
  const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const header = new Int32Array(buf, 0, 4);
  const size = header[0]!;
  const upLen = header[3]!;
  let o = 16;
  const levels = new Uint8Array(buf, o, size);
  o += pad4(size);
  const deleted = new Uint8Array(buf, o, size);
  o += pad4(size);
  const links0Len = (buf.byteLength - o - upLen * 4) / 4;
  const links0 = new Int32Array(buf, o, links0Len);
  o += links0Len * 4;
  const linksUp = new Int32Array(buf, o, upLen);
  return { size, entry: header[1]!, maxLevel: header[2]!, levels, deleted, links0, linksUp };
}
