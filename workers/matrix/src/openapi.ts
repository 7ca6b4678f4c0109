// The zod schemas of the matrix routes. The request schemas validate: index.ts declares every
// route with `api.openapi(createRoute(...), handler, fieldErrors)`, so a body they reject is a
// 400 worded like `query_vector[1]: expected a finite number, got "x"`, and the same schemas are
// what GET /matrix/openapi.json shows. Bounds that come from the config (k, per_corpus_k and
// playbook_top_k up to [vectord].max_k) are checked in the handler after the parse.
import { z } from "@hono/zod-openapi";
import { show } from "../../../shared/field-errors";

const OBJECT = { error: "request body must be a JSON object" };
const nonEmpty = "expected a non-empty string";
/** A string with something besides white space in it. */
const NonBlank = z.string({ error: nonEmpty }).refine((s) => s.trim() !== "", { error: nonEmpty });
const integer = (description: string) => {
  const error = (iss: { input?: unknown }) => `expected an integer, got ${show(iss.input)}`;
  return z.number({ error }).int({ error }).optional().openapi({ description });
};
const between = (min: number, max: number) => (iss: { input?: unknown }) =>
  typeof iss.input === "number"
    ? `must be between ${min} and ${max}, got ${iss.input}`
    : `expected a number, got ${show(iss.input)}`;
/** A number in [min, max]; out of range is `must be between min and max, got v`. */
const numberIn = (min: number, max: number) =>
  z
    .number({ error: between(min, max) })
    .min(min, { error: between(min, max) })
    .max(max, { error: between(min, max) });

const Scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const FILTER = "expected an object of key → value or list of values";
/** metadata_filter: a scalar means equality (5 equals 5.0), a list means any of; keys are ANDed. */
export const MetadataFilter = z
  .record(
    z.string(),
    z.union([Scalar, z.array(Scalar).min(1)], {
      error: (iss) => `expected a scalar or a non-empty list of scalars, got ${show(iss.input)}`,
    }),
    { error: FILTER },
  )
  .openapi({
    description:
      "key → scalar (equality) or non-empty list of scalars (any of); keys are ANDed; a hit without the key is dropped",
    example: { kind: ["doc", "note"] },
  });

const CORPORA = "expected a non-empty array of vector index names";
const corpusName = (iss: { input?: unknown }) => `expected an index name, got ${show(iss.input)}`;
const NO_QUERY = "no query: give query_text (a non-empty string) or query_vector";
const VECTOR = "expected a non-empty array of numbers";

/** POST /matrix/search. Field order is the order the checks report in. */
export const SearchBody = z
  .strictObject(
    {
      corpora: z
        .array(z.string({ error: corpusName }).min(1, { error: corpusName }), { error: CORPORA })
        .min(1, { error: CORPORA })
        .openapi({
          description: "vector index names, searched in parallel (duplicates once)",
          example: ["notes", "runbooks"],
        }),
      k: integer("hits in the answer, 1 to [vectord].max_k (default [matrixd].default_k)"),
      per_corpus_k: integer(
        "hits asked of each corpus, 1 to [vectord].max_k (default max(k, [matrixd].per_corpus_k))",
      ),
      metadata_filter: MetadataFilter.nullish(),
      use_playbook: z
        .boolean({ error: "expected true or false" })
        .optional()
        .openapi({ description: "boost hits recorded as good answers to similar queries" }),
      playbook_corpus: z
        .string({ error: (iss) => `expected a vector index name, got ${show(iss.input)}` })
        .min(1, { error: (iss) => `expected a vector index name, got ${show(iss.input)}` })
        .optional()
        .openapi({ description: "default [matrixd].playbook_corpus" }),
      playbook_top_k: integer(
        "playbook entries considered, 1 to [vectord].max_k (default [matrixd].playbook_top_k)",
      ),
      playbook_max_distance: numberIn(0, Number.MAX_VALUE).optional().openapi({
        description:
          "farthest playbook entry that boosts (default [matrixd].playbook_max_distance)",
      }),
      model: z
        .string({ error: nonEmpty })
        .min(1, { error: nonEmpty })
        .optional()
        .openapi({ description: "embedding model for query_text" }),
      query_vector: z
        .array(z.number({ error: (iss) => `expected a finite number, got ${show(iss.input)}` }), {
          error: VECTOR,
        })
        .min(1, { error: VECTOR })
        .nullish()
        .openapi({ description: "the query vector (wins over query_text)" }),
      query_text: z
        .string({ error: (iss) => `expected a string, got ${show(iss.input)}` })
        .nullish()
        .openapi({ description: "embedded through embed when there is no query_vector" }),
    },
    OBJECT,
  )
  .superRefine((b, ctx) => {
    if (b.query_vector == null && (b.query_text == null || b.query_text.trim() === ""))
      ctx.addIssue({ code: "custom", path: [], message: NO_QUERY });
  });

const score01 = (iss: { input?: unknown }) =>
  `expected a number from 0 to 1, got ${show(iss.input)}`;
/** POST /matrix/playbooks/record */
export const RecordBody = z.strictObject(
  {
    query_text: NonBlank.openapi({ description: "the query that was answered" }),
    answer_id: NonBlank.openapi({ description: "the id of the hit that answered it" }),
    answer_corpus: NonBlank.openapi({ description: "the corpus that hit is in" }),
    score: z
      .number({ error: score01 })
      .min(0, { error: score01 })
      .max(1, { error: score01 })
      .openapi({ description: "how good the answer was, 0 to 1 (1 halves its distance)" }),
    tags: z
      .array(z.string({ error: (iss) => `expected a string, got ${show(iss.input)}` }), {
        error: "expected an array of strings",
      })
      .optional(),
    model: z
      .string({ error: nonEmpty })
      .min(1, { error: nonEmpty })
      .optional()
      .openapi({ description: "embedding model for query_text" }),
  },
  OBJECT,
);

const CHUNK = "expected {source, text} strings";
const aString = (iss: { input?: unknown }) => `expected a string, got ${show(iss.input)}`;
/** A chunk of context: its source path and text; other fields are kept in the answer. */
export const ChunkInput = z.looseObject(
  { source: z.string({ error: aString }), text: z.string({ error: aString }) },
  { error: CHUNK },
);
/** POST /matrix/relevance */
export const RelevanceBody = z.strictObject(
  {
    focus_file: z.strictObject(
      {
        path: z
          .string({ error: (iss) => `${nonEmpty}, got ${show(iss.input)}` })
          .min(1, { error: (iss) => `${nonEmpty}, got ${show(iss.input)}` }),
        content: z.string({ error: aString }),
      },
      { error: "expected {path, content} with a non-empty path and a string content" },
    ),
    chunks: z.array(ChunkInput, { error: "expected an array of {source, text}" }),
    threshold: numberIn(-10, 10).optional().openapi({
      description: "keep chunks scoring at least this (default [matrixd].relevance_threshold)",
    }),
  },
  OBJECT,
);

const MODE = "expected a mode name (or true to keep the given mode)";
/** POST /matrix/downgrade */
export const DowngradeBody = z.strictObject(
  {
    mode: NonBlank.openapi({ example: "codereview_lakehouse" }),
    model: z.string({ error: "expected a string" }).optional().openapi({ example: "gpt-4o" }),
    forced_mode: z
      .union([z.boolean(), z.string().refine((s) => s.trim() !== "", { error: MODE })], {
        error: MODE,
      })
      .nullish()
      .openapi({ description: "a mode to use as is, or true to keep the given mode" }),
  },
  OBJECT,
);

// ---- answers (documentation) ----

export const MatrixError = z
  .object({ error: z.object({ code: z.string(), message: z.string() }) })
  .openapi("MatrixError");
export const SearchResult = z.object({
  results: z.array(
    z.object({
      id: z.string(),
      distance: z.number(),
      corpus: z.string(),
      metadata: z.record(z.string(), z.unknown()).optional(),
      playbook_boost: z.number().optional(),
    }),
  ),
  per_corpus: z.record(z.string(), z.number().int()),
  metadata_filter_dropped: z.number().int(),
  playbook_boosted: z.number().int(),
  model: z
    .string()
    .optional()
    .openapi({ description: "the embedding model, when query_text was embedded" }),
});
export const Corpora = z.object({ corpora: z.array(z.record(z.string(), z.unknown())) });
export const RecordResult = z.object({ playbook_id: z.string(), corpus: z.string() });
const Scored = ChunkInput.extend({ score: z.number(), signals: z.array(z.string()) });
export const RelevanceResult = z.object({
  kept: z.array(Scored),
  dropped: z.array(Scored),
  threshold: z.number(),
});
export const DowngradeResult = z.object({
  mode: z.string(),
  downgraded_from: z.string().optional(),
  forced: z.boolean().optional(),
});
