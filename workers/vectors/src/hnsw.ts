// A Hierarchical Navigable Small World graph (Malkov & Yashunin 2016), with the
// neighbour-selection heuristic, tombstone deletes and filtered search. The graph walk is
// TypeScript; the vectors live in the memory of a small WebAssembly SIMD kernel
// (distance.wat) that measures a whole neighbour list per call. The kernel is passed in:
// the VectorIndex Durable Object passes it the kernel imported as a wasm module, the
// benchmark passes the same distance.wasm read from disk and runs it in Node beside
// hnswlib-node (hence the explicit `.ts` in the one import, which Node needs).
//
// Internal distances: cosine and dot use 1 − dot(a, b) (cosine on vectors normalised at
// insert), euclidean uses the squared L2 distance; `publicDistance` converts for answers.

import { seededRandom } from "../../../shared/random.ts";

export type Metric = "cosine" | "euclidean" | "dot";

export interface HnswOptions {
  dimension: number;
  metric: Metric;
  m?: number;
  efConstruction?: number;
  efSearch?: number;
  seed?: number;
  initialCapacity?: number;
  /** The compiled distance kernel (distance.wasm): imported as a module in workerd, read from disk in Node. */
  kernel: WebAssembly.Module;
  /**
   * "int8": vectors are held as int8 codes with one scale per vector (≈ 4× less memory,
   * distances approximate: rerank the candidates with `rerank`); "none" (default): float32.
   */
  quantization?: Quantization;
}

export type Quantization = "none" | "int8";

export interface Neighbour {
  node: number;
  distance: number;
}

/** A binary min-heap of (distance, node) on typed arrays. */
class MinHeap {
  d: Float64Array;
  n: Int32Array;
  size = 0;
  constructor(cap = 64) {
    this.d = new Float64Array(cap);
    this.n = new Int32Array(cap);
  }
  clear(): void {
    this.size = 0;
  }
  push(dist: number, node: number): void {
    if (this.size === this.d.length) {
      const d = new Float64Array(this.size * 2);
      d.set(this.d);
      const n = new Int32Array(this.size * 2);
      n.set(this.n);
      this.d = d;
      this.n = n;
    }
    let i = this.size++;
    const d = this.d;
    const n = this.n;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (d[p]! <= dist) break;
      d[i] = d[p]!;
      n[i] = n[p]!;
      i = p;
    }
    d[i] = dist;
    n[i] = node;
  }
  topDist(): number {
    return this.d[0]!;
  }
  topNode(): number {
    return this.n[0]!;
  }
  pop(): void {
    const last = --this.size;
    if (last === 0) return;
    const d = this.d;
    const n = this.n;
    const ld = d[last]!;
    const ln = n[last]!;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= last) break;
      if (c + 1 < last && d[c + 1]! < d[c]!) c++;
      if (d[c]! >= ld) break;
      d[i] = d[c]!;
      n[i] = n[c]!;
      i = c;
    }
    d[i] = ld;
    n[i] = ln;
  }
}

/** The exports of distance.wasm (see distance.wat). */
interface Kernel {
  memory: WebAssembly.Memory;
  distance(metric: number, a: number, b: number, dim: number): number;
  distances(
    metric: number,
    q: number,
    ids: number,
    n: number,
    base: number,
    dim: number,
    out: number,
  ): void;
  distances_run(
    metric: number,
    q: number,
    first: number,
    n: number,
    base: number,
    dim: number,
    out: number,
  ): void;
  distance_i8(metric: number, a: number, b: number, dim: number): number;
  distances_i8(
    metric: number,
    q: number,
    ids: number,
    n: number,
    base: number,
    stride: number,
    dim: number,
    out: number,
  ): void;
  distances_run_i8(
    metric: number,
    q: number,
    first: number,
    n: number,
    base: number,
    stride: number,
    dim: number,
    out: number,
  ): void;
}

const PAGE = 65536;
/** Node ids (and their distances) handed to the kernel per call. */
const SCRATCH = 4096;
/** Kernel memory grows by this many vectors at a time. */
const VECTOR_STEP = 1024;

export class Hnsw {
  readonly dim: number;
  readonly metric: Metric;
  readonly M: number;
  readonly M0: number;
  efConstruction: number;
  efSearch: number;
  private readonly mL: number;
  private readonly random: () => number;

  /** Number of nodes ever added (live + deleted). */
  size = 0;
  deletedCount = 0;
  private capacity: number;
  /**
   * The kernel's linear memory: [query | ids scratch | distances scratch | vectors...].
   * Node v's vector (float32, or an int8 record: see distance.wat) sits at `base + v·stride`;
   * growing the memory never moves a vector.
   */
  private readonly kernel: Kernel;
  private readonly kmetric: number;
  private readonly qPtr = 0;
  readonly quantization: Quantization;
  private readonly quantized: boolean;
  /** Bytes per stored vector. */
  private readonly stride: number;
  private i8!: Int8Array;
  private readonly idsPtr: number;
  private readonly outPtr: number;
  private readonly base: number;
  private f32!: Float32Array;
  private i32!: Int32Array;
  levels: Uint8Array;
  deleted: Uint8Array;
  /** Level-0 links: per node, [count, n1, ..., nM0]. */
  links0: Int32Array;
  /** Upper-level links: per node with level ≥ 1, levels × (M + 1) slots. */
  linksUp: (Int32Array | undefined)[] = [];
  entry = -1;
  maxLevel = -1;

  private visited: Uint32Array;
  private visitTag = 0;
  private readonly cand = new MinHeap(256);
  private readonly res = new MinHeap(256);

  constructor(options: HnswOptions) {
    this.dim = options.dimension;
    this.metric = options.metric;
    this.M = options.m ?? 16;
    this.M0 = this.M * 2;
    this.efConstruction = options.efConstruction ?? 200;
    this.efSearch = options.efSearch ?? 64;
    this.mL = 1 / Math.log(this.M);
    this.random = seededRandom(options.seed ?? 42);
    this.capacity = Math.max(16, options.initialCapacity ?? 1024);
    this.levels = new Uint8Array(this.capacity);
    this.deleted = new Uint8Array(this.capacity);
    this.links0 = new Int32Array(this.capacity * (this.M0 + 1));
    this.visited = new Uint32Array(this.capacity);
    this.kernel = new WebAssembly.Instance(options.kernel, {}).exports as unknown as Kernel;
    this.kmetric = this.metric === "euclidean" ? 1 : 0;
    this.quantization = options.quantization ?? "none";
    this.quantized = this.quantization === "int8";
    this.stride = this.quantized ? 16 + align16(this.dim) : this.dim * 4;
    this.idsPtr = align64(Math.max(this.dim * 4, this.stride));
    this.outPtr = this.idsPtr + SCRATCH * 4;
    this.base = align64(this.outPtr + SCRATCH * 4);
    this.reserve(0);
  }

  get liveCount(): number {
    return this.size - this.deletedCount;
  }

  /** Bytes held by the vectors (kernel memory), links and bookkeeping, for memory reporting. */
  bytes(): number {
    let up = 0;
    for (const l of this.linksUp) if (l) up += l.byteLength;
    return (
      this.kernel.memory.buffer.byteLength +
      this.links0.byteLength +
      this.levels.byteLength +
      this.deleted.byteLength +
      this.visited.byteLength +
      up
    );
  }

  /**
   * Grows the kernel memory to hold `nodes` vectors, in steps of VECTOR_STEP nodes (not by
   * doubling: near a shard's bound a doubled memory would pass the isolate's 128 MB), and
   * refreshes the views on it. Growing never moves a stored vector.
   */
  private reserve(nodes: number): void {
    const mem = this.kernel.memory;
    const need = this.base + Math.ceil(nodes / VECTOR_STEP) * VECTOR_STEP * this.stride;
    if (need > mem.buffer.byteLength) mem.grow(Math.ceil((need - mem.buffer.byteLength) / PAGE));
    if (this.f32?.buffer !== mem.buffer) {
      this.f32 = new Float32Array(mem.buffer);
      this.i32 = new Int32Array(mem.buffer);
      this.i8 = new Int8Array(mem.buffer);
    }
  }

  private grow(min: number): void {
    let cap = this.capacity;
    while (cap < min) cap = Math.ceil(cap * 1.5);
    const levels = new Uint8Array(cap);
    levels.set(this.levels);
    this.levels = levels;
    const deleted = new Uint8Array(cap);
    deleted.set(this.deleted);
    this.deleted = deleted;
    const links0 = new Int32Array(cap * (this.M0 + 1));
    links0.set(this.links0);
    this.links0 = links0;
    this.visited = new Uint32Array(cap);
    this.visitTag = 0;
    this.capacity = cap;
  }

  /** Prepares a query: a copy, normalised under cosine. */
  prepare(vector: ArrayLike<number>): Float32Array {
    const q = Float32Array.from(vector);
    if (this.metric === "cosine") normaliseInPlace(q);
    return q;
  }

  /** Byte address of node's vector in kernel memory. */
  private addr(node: number): number {
    return this.base + node * this.stride;
  }

  /** Copies a prepared query into the kernel's query slot (as an int8 record when quantised); returns its address. */
  private loadQuery(q: Float32Array): number {
    if (q.length !== this.dim)
      throw new Error(`query has ${q.length} dimensions, index has ${this.dim}`);
    if (this.quantized) this.encode(q, this.qPtr);
    else this.f32.set(q, this.qPtr >> 2);
    return this.qPtr;
  }

  /** Distance between the vectors at two kernel addresses. */
  private dist(a: number, b: number): number {
    return this.quantized
      ? this.kernel.distance_i8(this.kmetric, a, b, this.dim)
      : this.kernel.distance(this.kmetric, a, b, this.dim);
  }

  /** Distances from the vector at `q` to the `n` nodes in the ids scratch, into the distances scratch. */
  private many(q: number, n: number): void {
    if (this.quantized)
      this.kernel.distances_i8(
        this.kmetric,
        q,
        this.idsPtr,
        n,
        this.base,
        this.stride,
        this.dim,
        this.outPtr,
      );
    else this.kernel.distances(this.kmetric, q, this.idsPtr, n, this.base, this.dim, this.outPtr);
  }

  /** Distances from the vector at `q` to nodes first..first+n−1, into the distances scratch. */
  private run(q: number, first: number, n: number): void {
    if (this.quantized)
      this.kernel.distances_run_i8(
        this.kmetric,
        q,
        first,
        n,
        this.base,
        this.stride,
        this.dim,
        this.outPtr,
      );
    else this.kernel.distances_run(this.kmetric, q, first, n, this.base, this.dim, this.outPtr);
  }

  /** The distance reported to clients: 1 − cos, Euclidean distance, or 1 − dot. */
  publicDistance(internal: number): number {
    return this.metric === "euclidean" ? Math.sqrt(Math.max(0, internal)) : internal;
  }

  /** The stored float32 vector of a node (unquantised indexes only): a view, valid until the next add. */
  private vectorOf(node: number): Float32Array {
    if (this.quantized) throw new Error("an int8 index holds codes, not float32 vectors");
    const o = this.addr(node) >> 2;
    return this.f32.subarray(o, o + this.dim);
  }

  /** Appends a vector with no graph links: for exact search only (benchmarks' flat baseline). */
  appendRaw(vector: ArrayLike<number>): number {
    if (this.size === this.capacity) this.grow(this.size + 1);
    const node = this.size++;
    this.store(node, vector, false);
    return node;
  }

  /** Writes a node's vector (normalised under cosine unless `prepared`) into kernel memory. */
  private store(node: number, vector: ArrayLike<number>, prepared: boolean): void {
    this.reserve(node + 1);
    if (this.quantized) {
      this.encode(prepared ? vector : this.prepare(vector), this.addr(node));
      return;
    }
    const v = this.vectorOf(node);
    for (let i = 0; i < this.dim; i++) v[i] = vector[i]!;
    if (this.metric === "cosine" && !prepared) normaliseInPlace(v);
  }

  /**
   * Writes `v` as an int8 record at `at`: scale = max|v_i| / 127, code_i = round(v_i / scale),
   * and the squared norm of the dequantised vector (for euclidean distances).
   */
  private encode(v: ArrayLike<number>, at: number): void {
    let max = 0;
    for (let i = 0; i < this.dim; i++) max = Math.max(max, Math.abs(v[i]!));
    const scale = max / 127;
    const inv = scale > 0 ? 1 / scale : 0;
    const codes = this.i8;
    const c0 = at + 16;
    let norm2 = 0;
    for (let i = 0; i < this.dim; i++) {
      const c = Math.round(v[i]! * inv);
      codes[c0 + i] = c;
      norm2 += c * c;
    }
    codes.fill(0, c0 + this.dim, at + this.stride);
    this.f32[at >> 2] = scale;
    this.f32[(at >> 2) + 1] = norm2 * scale * scale;
    this.f32[(at >> 2) + 2] = 0;
    this.f32[(at >> 2) + 3] = 0;
  }

  private linksAt(node: number, level: number): { arr: Int32Array; off: number } {
    if (level === 0) return { arr: this.links0, off: node * (this.M0 + 1) };
    return { arr: this.linksUp[node]!, off: (level - 1) * (this.M + 1) };
  }

  private nextTag(): number {
    this.visitTag = (this.visitTag + 1) >>> 0;
    if (this.visitTag === 0) {
      this.visited.fill(0);
      this.visitTag = 1;
    }
    return this.visitTag;
  }

  /**
   * Best-first search of one layer from the entry points, for the vector at kernel address
   * `q`; returns up to `ef` nodes, closest first. With `accept`, only accepted nodes enter
   * the results (the walk still passes through the others), so a selective filter keeps
   * searching until it has `ef`. The unvisited neighbours of each expanded node are measured
   * in one kernel call.
   */
  private searchLayer(
    q: number,
    eps: readonly number[],
    ef: number,
    level: number,
    accept?: (node: number) => boolean,
  ): Neighbour[] {
    const tag = this.nextTag();
    const visited = this.visited;
    const cand = this.cand;
    const res = this.res; // max-heap through negated distances
    const i32 = this.i32;
    const f32 = this.f32;
    const idsAt = this.idsPtr >> 2;
    const outAt = this.outPtr >> 2;
    cand.clear();
    res.clear();
    for (const ep of eps) {
      if (visited[ep] === tag) continue;
      visited[ep] = tag;
      const d = this.dist(q, this.addr(ep));
      cand.push(d, ep);
      if (!accept || accept(ep)) res.push(-d, ep);
    }
    while (res.size > ef) res.pop();
    const M1 = level === 0 ? this.M0 + 1 : this.M + 1;
    while (cand.size > 0) {
      const cd = cand.topDist();
      if (res.size >= ef && cd > -res.topDist()) break;
      const c = cand.topNode();
      cand.pop();
      let arr: Int32Array;
      let off: number;
      if (level === 0) {
        arr = this.links0;
        off = c * M1;
      } else {
        arr = this.linksUp[c]!;
        off = (level - 1) * M1;
      }
      const count = arr[off]!;
      let n = 0;
      for (let j = 1; j <= count; j++) {
        const nb = arr[off + j]!;
        if (visited[nb] === tag) continue;
        visited[nb] = tag;
        i32[idsAt + n++] = nb;
      }
      if (n === 0) continue;
      this.many(q, n);
      for (let j = 0; j < n; j++) {
        const d = f32[outAt + j]!;
        if (res.size < ef || d < -res.topDist()) {
          const nb = i32[idsAt + j]!;
          cand.push(d, nb);
          if (!accept || accept(nb)) {
            res.push(-d, nb);
            if (res.size > ef) res.pop();
          }
        }
      }
    }
    const out: Neighbour[] = new Array(res.size);
    for (let i = res.size - 1; i >= 0; i--) {
      out[i] = { node: res.topNode(), distance: -res.topDist() };
      res.pop();
    }
    return out;
  }

  /** Greedy descent through the upper layers, for the vector at kernel address `q`. */
  private greedy(q: number, ep: number, fromLevel: number, toLevel: number): number {
    let cur = ep;
    let curDist = this.dist(q, this.addr(cur));
    for (let level = fromLevel; level > toLevel; level--) {
      let changed = true;
      while (changed) {
        changed = false;
        const { arr, off } = this.linksAt(cur, level);
        const count = arr[off]!;
        for (let j = 1; j <= count; j++) {
          const nb = arr[off + j]!;
          const d = this.dist(q, this.addr(nb));
          if (d < curDist) {
            curDist = d;
            cur = nb;
            changed = true;
          }
        }
      }
    }
    return cur;
  }

  /** The heuristic of the paper (Algorithm 4 without extension): keeps diverse neighbours. */
  private selectNeighbours(sorted: Neighbour[], max: number): Neighbour[] {
    if (sorted.length <= max) return sorted;
    const out: Neighbour[] = [];
    for (const c of sorted) {
      if (out.length >= max) break;
      const ca = this.addr(c.node);
      let good = true;
      for (const r of out) {
        if (this.dist(ca, this.addr(r.node)) < c.distance) {
          good = false;
          break;
        }
      }
      if (good) out.push(c);
    }
    return out;
  }

  private setLinks(node: number, level: number, list: readonly Neighbour[]): void {
    const { arr, off } = this.linksAt(node, level);
    arr[off] = list.length;
    for (let j = 0; j < list.length; j++) arr[off + 1 + j] = list[j]!.node;
  }

  private connect(from: number, to: number, level: number): void {
    const max = level === 0 ? this.M0 : this.M;
    const { arr, off } = this.linksAt(from, level);
    const count = arr[off]!;
    for (let j = 1; j <= count; j++) if (arr[off + j] === to) return;
    if (count < max) {
      arr[off + 1 + count] = to;
      arr[off] = count + 1;
      return;
    }
    // Full: measure `to` and the current links from `from` in one call, keep the best by the heuristic.
    const idsAt = this.idsPtr >> 2;
    const outAt = this.outPtr >> 2;
    this.i32[idsAt] = to;
    for (let j = 1; j <= count; j++) this.i32[idsAt + j] = arr[off + j]!;
    this.many(this.addr(from), count + 1);
    const cands: Neighbour[] = new Array(count + 1);
    for (let j = 0; j <= count; j++)
      cands[j] = { node: this.i32[idsAt + j]!, distance: this.f32[outAt + j]! };
    cands.sort((a, b) => a.distance - b.distance);
    this.setLinks(from, level, this.selectNeighbours(cands, max));
  }

  /**
   * Adds a vector (already validated; `prepared`: already through `prepare`, so not
   * normalised again); returns its node number.
   */
  add(vector: ArrayLike<number>, prepared = false): number {
    if (this.size === this.capacity) this.grow(this.size + 1);
    const node = this.size++;
    this.store(node, vector, prepared);
    const q = this.addr(node);
    const level = Math.min(255, Math.floor(-Math.log(1 - this.random()) * this.mL));
    this.levels[node] = level;
    this.deleted[node] = 0;
    this.links0[node * (this.M0 + 1)] = 0;
    if (level > 0) this.linksUp[node] = new Int32Array(level * (this.M + 1));
    if (this.entry < 0) {
      this.entry = node;
      this.maxLevel = level;
      return node;
    }
    const ep = this.greedy(q, this.entry, this.maxLevel, level);
    let eps = [ep];
    for (let l = Math.min(level, this.maxLevel); l >= 0; l--) {
      const found = this.searchLayer(q, eps, this.efConstruction, l);
      const chosen = this.selectNeighbours(found, this.M);
      this.setLinks(node, l, chosen);
      for (const c of chosen) this.connect(c.node, node, l);
      eps = found.map((f) => f.node);
    }
    if (level > this.maxLevel) {
      this.maxLevel = level;
      this.entry = node;
    }
    return node;
  }

  /** Marks a node deleted: it still routes searches but is never returned. */
  remove(node: number): void {
    if (node < 0 || node >= this.size || this.deleted[node]) return;
    this.deleted[node] = 1;
    this.deletedCount++;
  }

  /** Approximate k nearest live nodes (optionally only accepted ones) to a prepared query, closest first. */
  search(
    query: Float32Array,
    k: number,
    ef = this.efSearch,
    accept?: (node: number) => boolean,
  ): Neighbour[] {
    if (this.entry < 0 || k <= 0) return [];
    const q = this.loadQuery(query);
    const ep = this.greedy(q, this.entry, this.maxLevel, 0);
    const deleted = this.deleted;
    const ok =
      this.deletedCount === 0 && !accept
        ? undefined
        : (n: number) => deleted[n] === 0 && (!accept || accept(n));
    const found = this.searchLayer(q, [ep], Math.max(ef, k), 0, ok);
    return found.length > k ? found.slice(0, k) : found;
  }

  /** Exact k nearest live nodes among `nodes` (or all) to a prepared query, closest first. */
  exact(query: Float32Array, k: number, nodes?: Iterable<number>): Neighbour[] {
    const q = this.loadQuery(query);
    const heap = new MinHeap(k + 1); // max-heap via negation
    const i32 = this.i32;
    const f32 = this.f32;
    const idsAt = this.idsPtr >> 2;
    const outAt = this.outPtr >> 2;
    const consider = (n: number, d: number) => {
      if (this.deleted[n]) return;
      if (heap.size < k) heap.push(-d, n);
      else if (d < -heap.topDist()) {
        heap.pop();
        heap.push(-d, n);
      }
    };
    if (nodes) {
      let n = 0;
      const flush = () => {
        this.many(q, n);
        for (let j = 0; j < n; j++) consider(i32[idsAt + j]!, f32[outAt + j]!);
        n = 0;
      };
      for (const node of nodes) {
        i32[idsAt + n++] = node;
        if (n === SCRATCH) flush();
      }
      if (n > 0) flush();
    } else {
      for (let first = 0; first < this.size; first += SCRATCH) {
        const n = Math.min(SCRATCH, this.size - first);
        this.run(q, first, n);
        for (let j = 0; j < n; j++) consider(first + j, f32[outAt + j]!);
      }
    }
    const out: Neighbour[] = new Array(heap.size);
    for (let i = heap.size - 1; i >= 0; i--) {
      out[i] = { node: heap.topNode(), distance: -heap.topDist() };
      heap.pop();
    }
    return out;
  }

  /** The graph as plain arrays (for snapshots). Vectors are not included. */
  exportGraph(): {
    size: number;
    entry: number;
    maxLevel: number;
    levels: Uint8Array;
    deleted: Uint8Array;
    links0: Int32Array;
    linksUp: Int32Array;
  } {
    // Upper links are packed: for each node with level ≥ 1, its slots in order.
    let total = 0;
    for (let n = 0; n < this.size; n++) total += this.levels[n]! * (this.M + 1);
    const up = new Int32Array(total);
    let o = 0;
    for (let n = 0; n < this.size; n++) {
      const l = this.linksUp[n];
      if (l && this.levels[n]! > 0) {
        up.set(l, o);
        o += l.length;
      }
    }
    return {
      size: this.size,
      entry: this.entry,
      maxLevel: this.maxLevel,
      levels: this.levels.slice(0, this.size),
      deleted: this.deleted.slice(0, this.size),
      links0: this.links0.slice(0, this.size * (this.M0 + 1)),
      linksUp: up,
    };
  }

  /** Restores a graph exported by exportGraph; vectors must be loaded with `setVector` for nodes 0..size-1. */
  importGraph(g: {
    size: number;
    entry: number;
    maxLevel: number;
    levels: Uint8Array;
    deleted: Uint8Array;
    links0: Int32Array;
    linksUp: Int32Array;
  }): void {
    if (g.size > this.capacity) this.grow(g.size);
    this.size = g.size;
    this.entry = g.entry;
    this.maxLevel = g.maxLevel;
    this.levels.set(g.levels);
    this.deleted.set(g.deleted);
    this.deletedCount = 0;
    for (let n = 0; n < g.size; n++) if (g.deleted[n]) this.deletedCount++;
    this.links0.set(g.links0);
    this.linksUp = new Array(g.size);
    let o = 0;
    for (let n = 0; n < g.size; n++) {
      const level = g.levels[n]!;
      if (level > 0) {
        const len = level * (this.M + 1);
        this.linksUp[n] = g.linksUp.slice(o, o + len);
        o += len;
      }
    }
  }

  /** Writes a stored vector for a node restored by importGraph (as `prepare` returned it). */
  setVector(node: number, vector: Float32Array): void {
    this.store(node, vector, true);
  }

  /**
   * Exact internal distances from a prepared query to each candidate's float32 vector
   * (`vectorOf`, e.g. read back from storage), closest first, the best k: the second stage
   * of a search on an int8 index.
   */
  rerank(
    query: Float32Array,
    candidates: readonly Neighbour[],
    k: number,
    vectorOf: (node: number) => ArrayLike<number>,
  ): Neighbour[] {
    const out = candidates.map((c) => ({
      node: c.node,
      distance: exactDistance(this.metric, query, vectorOf(c.node)),
    }));
    out.sort((a, b) => a.distance - b.distance);
    return out.length > k ? out.slice(0, k) : out;
  }
}

/** The internal distance in float64 arithmetic (cosine: both vectors already normalised). */
function exactDistance(metric: Metric, a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  if (metric === "euclidean") {
    for (let i = 0; i < a.length; i++) {
      const d = a[i]! - b[i]!;
      s += d * d;
    }
    return s;
  }
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return 1 - s;
}

function align16(n: number): number {
  return (n + 15) & ~15;
}

function align64(n: number): number {
  return (n + 63) & ~63;
}

export function normaliseInPlace(v: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  const norm = Math.sqrt(s);
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i] = v[i]! / norm;
  return norm;
}
