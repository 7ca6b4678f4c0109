// The `vectorize` engine: one Vectorize index per dimension and metric, bound as
// VECTORIZE_<dimension>_<METRIC> (e.g. VECTORIZE_768_COSINE, created as
// `<prefix>-768-cosine`), and one namespace per logical index. Vectorize ids are unique per
// Vectorize index, not per namespace, so the stored id is "<index>/<id>" (hashed when that
// would pass Vectorize's 64-byte id limit) and the caller's id rides in metadata `__lh_id`.
// In tests VECTORIZE_ANY_<METRIC> (a fake with Vectorize's interface, bound through a service
// binding by the test configuration only) stands in when no real binding exists; dev has none.
import { LakehouseError } from "../../../shared/errors";
import { sha256Hex } from "../../../shared/hash";
import type { Distance } from "../../../shared/types";

/** The part of Vectorize's binding interface this engine uses. */
export interface VectorizeLike {
  upsert(
    vectors: {
      id: string;
      values: number[];
      namespace?: string;
      metadata?: Record<string, unknown>;
    }[],
  ): Promise<unknown>;
  query(
    vector: number[],
    options: {
      topK: number;
      namespace?: string;
      returnValues?: boolean;
      returnMetadata?: "all" | "indexed" | "none" | boolean;
      filter?: Record<string, unknown>;
    },
  ): Promise<{
    matches: { id: string; score: number; metadata?: Record<string, unknown> }[];
    count?: number;
  }>;
  deleteByIds(ids: string[]): Promise<unknown>;
}

export const ID_KEY = "__lh_id";
/** Vectorize's cap on topK when metadata is returned. */
export const VECTORIZE_MAX_K = 50;
const MAX_ID_BYTES = 64;

export function bindingName(dimension: number, distance: Distance): string {
  return `VECTORIZE_${dimension}_${distance.toUpperCase()}`;
}

export function vectorizeIndexName(prefix: string, dimension: number, distance: Distance): string {
  return `${prefix}-${dimension}-${distance}`;
}

export function resolveVectorize(
  env: Record<string, unknown>,
  dimension: number,
  distance: Distance,
  prefix: string,
): VectorizeLike {
  const binding = (env[bindingName(dimension, distance)] ??
    env[`VECTORIZE_ANY_${distance.toUpperCase()}`]) as VectorizeLike | undefined;
  if (!binding) {
    throw new LakehouseError(
      "bad_request",
      `no Vectorize index is bound for ${dimension}-d ${distance}: run \`wrangler vectorize create ${vectorizeIndexName(prefix, dimension, distance)} --dimensions=${dimension} --metric=${distance === "dot" ? "dot-product" : distance}\` and bind it as ${bindingName(dimension, distance)} in [env.production] of workers/vectors/wrangler.toml (Vectorize cannot run locally: there use [vectord].engine = "local")`,
    );
  }
  return binding;
}

export async function storedId(index: string, id: string): Promise<string> {
  const plain = `${index}/${id}`;
  if (new TextEncoder().encode(plain).length <= MAX_ID_BYTES) return plain;
  return `${index.slice(0, 20)}#${(await sha256Hex(plain)).slice(0, 40)}`;
}

/** Vectorize's score → our distance: 1 − cos for cosine, the distance for euclidean, 1 − dot for dot. */
export function scoreToDistance(score: number, distance: Distance): number {
  return distance === "euclidean" ? score : 1 - score;
}

function call<T>(what: string, p: Promise<T>): Promise<T> {
  return p.catch((err: unknown) => {
    throw new LakehouseError(
      "bad_gateway",
      `vectorize ${what} failed: ${(err as Error).message ?? String(err)}`,
    );
  });
}

export async function vectorizeUpsert(
  v: VectorizeLike,
  index: string,
  items: { id: string; vector: Float32Array; metadata?: Record<string, unknown> }[],
): Promise<void> {
  for (let i = 0; i < items.length; i += 1000) {
    const batch = await Promise.all(
      items.slice(i, i + 1000).map(async (it) => ({
        id: await storedId(index, it.id),
        values: Array.from(it.vector),
        namespace: index,
        metadata: { ...(it.metadata ?? {}), [ID_KEY]: it.id },
      })),
    );
    await call("upsert", v.upsert(batch));
  }
}

export async function vectorizeQuery(
  v: VectorizeLike,
  index: string,
  distance: Distance,
  vector: Float32Array,
  k: number,
  filter: Record<string, unknown> | undefined,
): Promise<{ id: string; distance: number; metadata?: Record<string, unknown> }[]> {
  const res = await call(
    "query",
    v.query(Array.from(vector), {
      topK: k,
      namespace: index,
      returnMetadata: "all",
      returnValues: false,
      ...(filter ? { filter } : {}),
    }),
  );
  return res.matches.map((m) => {
    const { [ID_KEY]: id, ...rest } = m.metadata ?? {};
    const hit: { id: string; distance: number; metadata?: Record<string, unknown> } = {
      id: typeof id === "string" ? id : m.id.slice(index.length + 1),
      distance: scoreToDistance(m.score, distance),
    };
    if (Object.keys(rest).length > 0) hit.metadata = rest;
    return hit;
  });
}

export async function vectorizeDelete(
  v: VectorizeLike,
  index: string,
  ids: string[],
): Promise<void> {
  for (let i = 0; i < ids.length; i += 1000) {
    const stored = await Promise.all(ids.slice(i, i + 1000).map((id) => storedId(index, id)));
    await call("deleteByIds", v.deleteByIds(stored));
  }
}
