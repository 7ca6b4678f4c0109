// A fake of Cloudflare Vectorize for tests, where the real one cannot run.
// It keeps Vectorize's binding interface (upsert, insert, query, getByIds, deleteByIds,
// describe), its scores (cosine similarity, euclidean distance, dot product), its
// namespaces and its metadata filter operators, and answers by exact search over an
// in-memory store (one per metric, per isolate: not durable, like any fake here).
// The lakehouse-fakes Worker (test/fakes/index.ts) exports one entrypoint per metric; the test
// configurations bind them to the vectors Worker as VECTORIZE_ANY_<METRIC> (test/aux-workers.ts).
import { WorkerEntrypoint } from "cloudflare:workers";
import { compileFilter, matches } from "../../../workers/vectors/src/filter";

type Metric = "cosine" | "euclidean" | "dot";
interface Stored {
  id: string;
  values: number[];
  namespace?: string;
  metadata?: Record<string, unknown>;
}

const stores = new Map<Metric, Map<string, Stored>>();
function store(metric: Metric): Map<string, Stored> {
  let s = stores.get(metric);
  if (!s) stores.set(metric, (s = new Map()));
  return s;
}

function score(metric: Metric, a: number[], b: number[]): number {
  let dot = 0,
    na = 0,
    nb = 0,
    sq = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!,
      y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
    sq += (x - y) * (x - y);
  }
  if (metric === "euclidean") return Math.sqrt(sq);
  if (metric === "dot") return dot;
  return dot / (Math.sqrt(na) * Math.sqrt(nb) || 1);
}

function fakeVectorize(metric: Metric) {
  return class FakeVectorize extends WorkerEntrypoint {
    async upsert(vectors: Stored[]): Promise<{ mutationId: string }> {
      for (const v of vectors) {
        if (typeof v.id !== "string" || new TextEncoder().encode(v.id).length > 64)
          throw new Error(`VECTOR_UPSERT_ERROR: id ${JSON.stringify(v.id)} over 64 bytes`);
        store(metric).set(v.id, structuredClone(v));
      }
      return { mutationId: crypto.randomUUID() };
    }
    async insert(vectors: Stored[]): Promise<{ mutationId: string }> {
      for (const v of vectors)
        if (store(metric).has(v.id)) throw new Error(`VECTOR_INSERT_ERROR: id ${v.id} exists`);
      return this.upsert(vectors);
    }
    async query(
      vector: number[],
      options: {
        topK?: number;
        namespace?: string;
        returnMetadata?: string | boolean;
        returnValues?: boolean;
        filter?: Record<string, unknown>;
      } = {},
    ) {
      const topK = options.topK ?? 5;
      const withMeta = options.returnMetadata === "all" || options.returnMetadata === true;
      if (topK > (withMeta || options.returnValues ? 50 : 100))
        throw new Error(`VECTOR_QUERY_ERROR: topK ${topK} over the limit`);
      const conditions = compileFilter(options.filter);
      const found = [...store(metric).values()]
        .filter(
          (v) =>
            (options.namespace === undefined || v.namespace === options.namespace) &&
            matches(conditions, v.metadata),
        )
        .map((v) => ({ v, s: score(metric, vector, v.values) }))
        .sort((a, b) => (metric === "euclidean" ? a.s - b.s : b.s - a.s))
        .slice(0, topK);
      return {
        count: found.length,
        matches: found.map(({ v, s }) => ({
          id: v.id,
          score: s,
          ...(v.namespace !== undefined ? { namespace: v.namespace } : {}),
          ...(withMeta && v.metadata ? { metadata: v.metadata } : {}),
          ...(options.returnValues ? { values: v.values } : {}),
        })),
      };
    }
    async getByIds(ids: string[]): Promise<Stored[]> {
      return ids.flatMap((id) =>
        store(metric).has(id) ? [structuredClone(store(metric).get(id)!)] : [],
      );
    }
    async deleteByIds(ids: string[]): Promise<{ mutationId: string }> {
      for (const id of ids) store(metric).delete(id);
      return { mutationId: crypto.randomUUID() };
    }
    async describe() {
      return { vectorCount: store(metric).size, config: { metric } };
    }
  };
}

export const FakeVectorizeCosine = fakeVectorize("cosine");
export const FakeVectorizeEuclidean = fakeVectorize("euclidean");
export const FakeVectorizeDot = fakeVectorize("dot");
