// A Hierarchical Navigable Small World graph (Malkov & Yashunin 2016) over Float32Array
// storage, with the neighbour-selection heuristic, tombstone deletes and filtered search.
// Pure TypeScript with no runtime dependencies: the VectorIndex Durable Object runs it in
// workerd and the benchmark runs the very same module in Node beside hnswlib-node.
//
// Internal distances: cosine and dot use 1 − dot(a, b) (cosine on vectors normalised at
// insert), euclidean uses the squared L2 distance; `publicDistance` converts for answers.

export type Metric = "cosine" | "euclidean" | "dot";

export interface HnswOptions {
  dimension: number;
  metric: Metric;
  m?: number;
  efConstruction?: number;
  efSearch?: number;
  seed?: number;
  initialCapacity?: number;
}

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

/** mulberry32 (the same generator as shared/random.ts, kept here so this module has no imports). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BLOCK_SHIFT = 10;
const BLOCK = 1 << BLOCK_SHIFT;
const BLOCK_MASK = BLOCK - 1;

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
  /** Vectors in fixed blocks of BLOCK rows: growing never copies (or doubles) the big array. */
  private blocks: Float32Array[] = [];
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
    this.random = rng(options.seed ?? 42);
    this.capacity = Math.max(16, options.initialCapacity ?? 1024);
    this.levels = new Uint8Array(this.capacity);
    this.deleted = new Uint8Array(this.capacity);
    this.links0 = new Int32Array(this.capacity * (this.M0 + 1));
    this.visited = new Uint32Array(this.capacity);
  }

  get liveCount(): number {
    return this.size - this.deletedCount;
  }

  /** Bytes held by the typed arrays (vectors, links, bookkeeping), for memory reporting. */
  bytes(): number {
    let up = 0;
    for (const l of this.linksUp) if (l) up += l.byteLength;
    return this.blocks.length * BLOCK * this.dim * 4 + this.links0.byteLength + this.levels.byteLength + this.deleted.byteLength + this.visited.byteLength + up;
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

  /** Prepares a query: a copy, normalised under cosine. Returns null for a zero vector under cosine. */
  prepare(vector: ArrayLike<number>): Float32Array {
    const q = Float32Array.from(vector);
    if (this.metric === "cosine") normaliseInPlace(q);
    return q;
  }

  /** Distance between a prepared query and a stored node. */
  distQ(q: Float32Array, node: number): number {
    const d = this.blocks[node >>> BLOCK_SHIFT]!;
    const dim = this.dim;
    let o = (node & BLOCK_MASK) * dim;
    if (this.metric === "euclidean") {
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      let i = 0;
      for (; i + 3 < dim; i += 4, o += 4) {
        const a = q[i]! - d[o]!;
        const b = q[i + 1]! - d[o + 1]!;
        const c = q[i + 2]! - d[o + 2]!;
        const e = q[i + 3]! - d[o + 3]!;
        s0 += a * a;
        s1 += b * b;
        s2 += c * c;
        s3 += e * e;
      }
      for (; i < dim; i++, o++) {
        const a = q[i]! - d[o]!;
        s0 += a * a;
      }
      return s0 + s1 + s2 + s3;
    }
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    let i = 0;
    for (; i + 3 < dim; i += 4, o += 4) {
      s0 += q[i]! * d[o]!;
      s1 += q[i + 1]! * d[o + 1]!;
      s2 += q[i + 2]! * d[o + 2]!;
      s3 += q[i + 3]! * d[o + 3]!;
    }
    for (; i < dim; i++, o++) s0 += q[i]! * d[o]!;
    return 1 - (s0 + s1 + s2 + s3);
  }

  /** Distance between two stored nodes. */
  distNodes(a: number, b: number): number {
    const da = this.blocks[a >>> BLOCK_SHIFT]!;
    const db = this.blocks[b >>> BLOCK_SHIFT]!;
    const dim = this.dim;
    let oa = (a & BLOCK_MASK) * dim;
    let ob = (b & BLOCK_MASK) * dim;
    const end = oa + dim;
    if (this.metric === "euclidean") {
      let s0 = 0, s1 = 0;
      for (; oa + 1 < end; oa += 2, ob += 2) {
        const x = da[oa]! - db[ob]!;
        const y = da[oa + 1]! - db[ob + 1]!;
        s0 += x * x;
        s1 += y * y;
      }
      for (; oa < end; oa++, ob++) {
        const x = da[oa]! - db[ob]!;
        s0 += x * x;
      }
      return s0 + s1;
    }
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (; oa + 3 < end; oa += 4, ob += 4) {
      s0 += da[oa]! * db[ob]!;
      s1 += da[oa + 1]! * db[ob + 1]!;
      s2 += da[oa + 2]! * db[ob + 2]!;
      s3 += da[oa + 3]! * db[ob + 3]!;
    }
    for (; oa < end; oa++, ob++) s0 += da[oa]! * db[ob]!;
    return 1 - (s0 + s1 + s2 + s3);
  }

  /** The distance reported to clients: 1 − cos, Euclidean distance, or 1 − dot. */
  publicDistance(internal: number): number {
    return this.metric === "euclidean" ? Math.sqrt(Math.max(0, internal)) : internal;
  }

  /** The stored (normalised under cosine) vector of a node. */
  vectorOf(node: number): Float32Array {
    const o = (node & BLOCK_MASK) * this.dim;
    return this.blocks[node >>> BLOCK_SHIFT]!.subarray(o, o + this.dim);
  }

  /** Makes room for `node`'s vector (a new block when needed) and returns its view. */
  private slot(node: number): Float32Array {
    while (this.blocks.length <= node >>> BLOCK_SHIFT) this.blocks.push(new Float32Array(BLOCK * this.dim));
    return this.vectorOf(node);
  }

  /** Appends a vector with no graph links: for exact search only (benchmarks' flat baseline). */
  appendRaw(vector: ArrayLike<number>): number {
    if (this.size === this.capacity) this.grow(this.size + 1);
    const node = this.size++;
    const v = this.slot(node);
    for (let i = 0; i < this.dim; i++) v[i] = vector[i]!;
    if (this.metric === "cosine") normaliseInPlace(v);
    return node;
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
   * Best-first search of one layer from the entry points; returns up to `ef` nodes,
   * closest first. With `accept`, only accepted nodes enter the results (the walk still
   * passes through the others), so a selective filter keeps searching until it has `ef`.
   */
  searchLayer(q: Float32Array, eps: readonly number[], ef: number, level: number, accept?: (node: number) => boolean): Neighbour[] {
    const tag = this.nextTag();
    const visited = this.visited;
    const cand = this.cand;
    const res = this.res; // max-heap through negated distances
    cand.clear();
    res.clear();
    for (const ep of eps) {
      if (visited[ep] === tag) continue;
      visited[ep] = tag;
      const d = this.distQ(q, ep);
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
      for (let j = 1; j <= count; j++) {
        const nb = arr[off + j]!;
        if (visited[nb] === tag) continue;
        visited[nb] = tag;
        const d = this.distQ(q, nb);
        if (res.size < ef || d < -res.topDist()) {
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

  private greedy(q: Float32Array, ep: number, fromLevel: number, toLevel: number): number {
    let cur = ep;
    let curDist = this.distQ(q, cur);
    for (let level = fromLevel; level > toLevel; level--) {
      let changed = true;
      while (changed) {
        changed = false;
        const { arr, off } = this.linksAt(cur, level);
        const count = arr[off]!;
        for (let j = 1; j <= count; j++) {
          const nb = arr[off + j]!;
          const d = this.distQ(q, nb);
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
      let good = true;
      for (const r of out) {
        if (this.distNodes(c.node, r.node) < c.distance) {
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
    const cands: Neighbour[] = [{ node: to, distance: this.distNodes(from, to) }];
    for (let j = 1; j <= count; j++) {
      const nb = arr[off + j]!;
      cands.push({ node: nb, distance: this.distNodes(from, nb) });
    }
    cands.sort((a, b) => a.distance - b.distance);
    this.setLinks(from, level, this.selectNeighbours(cands, max));
  }

  /** Adds a vector (already validated); returns its node number. */
  add(vector: ArrayLike<number>): number {
    if (this.size === this.capacity) this.grow(this.size + 1);
    const node = this.size++;
    const q = this.slot(node);
    for (let i = 0; i < this.dim; i++) q[i] = vector[i]!;
    if (this.metric === "cosine") normaliseInPlace(q);
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
    let ep = this.greedy(q, this.entry, this.maxLevel, level);
    let eps = [ep];
    for (let l = Math.min(level, this.maxLevel); l >= 0; l--) {
      const found = this.searchLayer(q, eps, this.efConstruction, l);
      const chosen = this.selectNeighbours(found, this.M);
      this.setLinks(node, l, chosen);
      for (const c of chosen) this.connect(c.node, node, l);
      eps = found.map((f) => f.node);
      ep = eps[0]!;
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

  /** Approximate k nearest live nodes (optionally only accepted ones), closest first. */
  search(q: Float32Array, k: number, ef = this.efSearch, accept?: (node: number) => boolean): Neighbour[] {
    if (this.entry < 0 || k <= 0) return [];
    const ep = this.greedy(q, this.entry, this.maxLevel, 0);
    const deleted = this.deleted;
    const ok = this.deletedCount === 0 && !accept ? undefined : (n: number) => deleted[n] === 0 && (!accept || accept(n));
    const found = this.searchLayer(q, [ep], Math.max(ef, k), 0, ok);
    return found.length > k ? found.slice(0, k) : found;
  }

  /** Exact k nearest live nodes among `nodes` (or all), closest first. */
  exact(q: Float32Array, k: number, nodes?: Iterable<number>): Neighbour[] {
    const heap = new MinHeap(k + 1); // max-heap via negation
    const consider = (n: number) => {
      if (this.deleted[n]) return;
      const d = this.distQ(q, n);
      if (heap.size < k) heap.push(-d, n);
      else if (d < -heap.topDist()) {
        heap.pop();
        heap.push(-d, n);
      }
    };
    if (nodes) for (const n of nodes) consider(n);
    else for (let n = 0; n < this.size; n++) consider(n);
    const out: Neighbour[] = new Array(heap.size);
    for (let i = heap.size - 1; i >= 0; i--) {
      out[i] = { node: heap.topNode(), distance: -heap.topDist() };
      heap.pop();
    }
    return out;
  }

  /** The graph as plain arrays (for snapshots). Vectors are not included. */
  exportGraph(): { size: number; entry: number; maxLevel: number; levels: Uint8Array; deleted: Uint8Array; links0: Int32Array; linksUp: Int32Array } {
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
  importGraph(g: { size: number; entry: number; maxLevel: number; levels: Uint8Array; deleted: Uint8Array; links0: Int32Array; linksUp: Int32Array }): void {
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

  /** Writes a stored vector for a node restored by importGraph (already normalised). */
  setVector(node: number, vector: Float32Array): void {
    this.slot(node).set(vector);
  }
}

export function normaliseInPlace(v: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  const norm = Math.sqrt(s);
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i] = v[i]! / norm;
  return norm;
}
