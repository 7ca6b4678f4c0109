// The zod schemas of the vectors routes. The request schemas validate: index.ts declares every
// route with `api.openapi(createRoute(...), handler, fieldErrors)`, so a body they reject is a
// 400 naming the item and the value (`items[3].vector[5]: Infinity is not finite ...`), and the
// same schemas are what GET /vectors/openapi.json shows. What needs the index or the config
// stays in the handler after the parse: a vector's dimension against the index's, a zero
// vector under cosine, dimension up to [vectord].max_dimension, k up to [vectord].max_k.
import { z } from "@hono/zod-openapi";
import { show } from "../../../shared/field-errors";
import { compileFilter } from "./filter";

export const INDEX_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const MAX_ID_CHARS = 512;

const OBJECT = { error: "request body must be a JSON object" };
/** An integer; with bounds, out of range is `must be between min and max, got v`. */
function integer(min?: number, max?: number) {
  const error = (iss: { input?: unknown }) =>
    typeof iss.input === "number" && Number.isInteger(iss.input)
      ? `must be between ${min} and ${max}, got ${iss.input}`
      : `expected an integer, got ${show(iss.input)}`;
  const int = z.number({ error }).int({ error });
  return min === undefined || max === undefined ? int : int.min(min, { error }).max(max, { error });
}

/** An index name: 1–64 of A-Z a-z 0-9 _ . -, starting with a letter or digit. */
export const IndexName = z
  .string({ error: (iss) => `expected a string, got ${show(iss.input)}` })
  .regex(INDEX_NAME, {
    error: (iss) =>
      `${show(iss.input)} is not a valid index name (1–64 of A-Z a-z 0-9 _ . -, starting with a letter or digit)`,
  })
  .openapi({
    description: "index name: 1–64 of A-Z a-z 0-9 _ . -, starting with a letter or digit",
    example: "docs",
  });
export const NameParams = z.object({
  name: IndexName.openapi({ param: { name: "name", in: "path" } }),
});

/** One number of a vector: finite, and within a 32-bit float. */
const Component = z
  .number({
    error: (iss) =>
      typeof iss.input === "number"
        ? `${iss.input} is not finite (NaN and Infinity are rejected)`
        : `expected a number, got ${show(iss.input)}`,
  })
  .refine((x) => Number.isFinite(Math.fround(x)), {
    error: (iss) => `${String(iss.input)} overflows a 32-bit float`,
  });
/** A vector; its length is checked against the index's dimension by the handler. */
export const Vector = z.array(Component, { error: "expected an array of numbers" }).openapi({
  description: "the index's dimension of finite numbers (not all zero under cosine)",
  example: [0.1, -0.4, 0.7],
});

export const DISTANCES = ["cosine", "euclidean", "dot"] as const;
export const QUANTIZATIONS = ["none", "int8"] as const;

/** POST /vectors/index. Field order is the order the checks report in. */
export const CreateBody = z.strictObject(
  {
    name: IndexName,
    dimension: integer().openapi({ description: "1 to [vectord].max_dimension", example: 768 }),
    distance: z
      .enum(DISTANCES, {
        error: (iss) => `unknown ${show(iss.input)} (expected cosine, euclidean or dot)`,
      })
      .nullish()
      .openapi({ description: "default cosine" }),
    quantization: z
      .enum(QUANTIZATIONS, {
        error: (iss) => `unknown ${show(iss.input)} (expected "none" or "int8")`,
      })
      .nullish()
      .openapi({
        description:
          "local engine: int8 codes reranked with float32 rows, or none (default [vectord].quantization)",
      }),
    m: integer(2, 128)
      .optional()
      .openapi({ description: "HNSW links per node (default [vectord].default_m)" }),
    ef_search: integer(1, 4096)
      .optional()
      .openapi({ description: "search breadth (default [vectord].default_ef_search)" }),
    shards: integer(1, 64).optional().openapi({
      description:
        "Durable Objects holding the index (local engine; default [vectord].default_shards)",
    }),
  },
  OBJECT,
);

const ITEMS = "expected a non-empty array of {id, vector, metadata?}";
/** One vector to upsert. */
export const VectorItem = z.strictObject(
  {
    id: z
      .string({
        error: (iss) =>
          `expected a non-empty string of at most ${MAX_ID_CHARS} characters, got ${show(iss.input)}`,
      })
      .min(1, {
        error: (iss) =>
          `expected a non-empty string of at most ${MAX_ID_CHARS} characters, got ${show(iss.input)}`,
      })
      .max(MAX_ID_CHARS, {
        error: (iss) =>
          `expected a non-empty string of at most ${MAX_ID_CHARS} characters, got ${show(iss.input)}`,
      }),
    vector: Vector,
    metadata: z
      .record(z.string(), z.unknown(), { error: "expected an object" })
      .nullish()
      .openapi({ description: "returned with hits; what filters match" }),
  },
  { error: "expected an object {id, vector, metadata?}" },
);
/** POST /vectors/index/{name}/add: the whole batch is validated before anything is written. */
export const AddBody = z.strictObject(
  { items: z.array(VectorItem, { error: ITEMS }).min(1, { error: ITEMS }) },
  OBJECT,
);

/** A metadata filter, validated by the same compileFilter the shards match with. */
export const Filter = z
  .record(z.string(), z.unknown(), { error: "expected an object of metadata keys" })
  .superRefine((filter, ctx) => {
    try {
      compileFilter(filter);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: (err as Error).message.replace(/^filter: /, "") });
    }
  })
  .openapi({
    description:
      "metadata filter: {key: scalar} or {key: {$eq|$ne|$in|$nin|$lt|$lte|$gt|$gte: ...}}, keys ANDed, dotted keys reach into objects",
  });

/** POST /vectors/index/{name}/search */
export const SearchBody = z.strictObject(
  {
    vector: Vector,
    k: integer()
      .optional()
      .openapi({ description: "1 to [vectord].max_k (Vectorize: at most 50); default 10" }),
    filter: Filter.nullish(),
    ef_search: integer(1, 4096)
      .optional()
      .openapi({ description: "search breadth for this query" }),
  },
  OBJECT,
);

/** POST /vectors/index/{name}/delete */
export const DeleteBody = z.strictObject(
  {
    ids: z.array(z.string({ error: (iss) => `expected a string, got ${show(iss.input)}` }), {
      error: "expected an array of strings",
    }),
  },
  OBJECT,
);

// ---- answers (documentation) ----

export const VectorsError = z
  .object({ error: z.object({ code: z.string(), message: z.string() }) })
  .openapi("VectorsError");
export const VectorIndexInfo = z
  .object({
    name: z.string(),
    dimension: z.number().int(),
    distance: z.enum(DISTANCES),
    count: z.number().int(),
    m: z.number().int(),
    ef_search: z.number().int(),
    shards: z.number().int(),
    engine: z.enum(["local", "vectorize"]),
    quantization: z.enum(QUANTIZATIONS),
    created_at: z.string(),
  })
  .openapi("VectorIndex");
export const VectorHit = z
  .object({
    id: z.string(),
    distance: z.number(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .openapi("VectorHit");
