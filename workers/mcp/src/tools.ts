// The MCP tools: each one a zod input schema (the SDK turns it into the JSON schema
// clients see and validates arguments with it), a description a model can act on,
// and a call to the owning service over its binding, per DESIGN §6.

import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { type ServiceName, serviceClient } from "../../../shared/clients";
import type { LakehouseConfig } from "../../../shared/config";
import { badRequest, LakehouseError } from "../../../shared/errors";
import { utf8Length } from "../../../shared/json-limits";
import { errorResult, jsonResult } from "./results";

export interface ToolContext {
  env: Record<string, unknown>;
  requestId: string;
  limits: LakehouseConfig["mcpd"];
  /** The whole validated configuration: the caps of the services a tool calls ([embedd].max_texts, ...). */
  config: LakehouseConfig;
  /** Aborts every service call of this tool once [mcpd].tool_timeout_ms has passed. */
  signal: AbortSignal;
}

export interface ToolDef {
  name: string;
  title: string;
  description: string;
  input: z.ZodRawShape;
  annotations?: {
    readOnlyHint?: boolean;
    destructiveHint?: boolean;
    idempotentHint?: boolean;
    openWorldHint?: boolean;
  };
  run(args: Record<string, unknown>, ctx: ToolContext): Promise<CallToolResult>;
}

async function call<T = unknown>(
  ctx: ToolContext,
  service: ServiceName,
  path: string,
  init: { method?: string; json?: unknown; body?: BodyInit; headers?: HeadersInit } = {},
): Promise<T> {
  return serviceClient(ctx.env, service, ctx.requestId).json<T>(path, {
    ...init,
    signal: ctx.signal,
  });
}

const seg = (s: string) => encodeURIComponent(s);
const name = z.string().min(1).max(512);
const READ = { readOnlyHint: true, openWorldHint: false } as const;
const WRITE = { readOnlyHint: false, destructiveHint: false, openWorldHint: false } as const;
/** Writes that remove or hide what was stored (forget, retire). */
const DESTROY = {
  readOnlyHint: false,
  destructiveHint: true,
  idempotentHint: true,
  openWorldHint: false,
} as const;
const DISTANCE = z.enum(["cosine", "euclidean", "dot"]);
/** Trace content: any JSON value, as pathway_add takes it. */
const CONTENT = z.union([
  z.string(),
  z.number(),
  z.boolean(),
  z.record(z.string(), z.unknown()),
  z.array(z.unknown()),
]);

function defined(obj: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined));
}

interface SqlAnswer {
  columns: { name: string; type: string }[];
  rows: unknown[][];
  row_count: number;
  truncated: boolean;
  /** which cap cut the answer: the row cap or [queryd].max_result_bytes */
  truncated_by?: "max_rows" | "max_result_bytes";
  elapsed_ms?: number;
}

async function embedOne(ctx: ToolContext, text: string, model?: string): Promise<number[]> {
  const res = await call<{ vectors: number[][] }>(ctx, "embed", "", {
    method: "POST",
    json: defined({ texts: [text], model }),
  });
  const vector = res.vectors?.[0];
  if (!vector)
    throw new LakehouseError("bad_gateway", "embed returned no vector for the query text");
  return vector;
}

interface EmbedAnswer {
  model: string;
  dimension: number;
  vectors: number[][];
}

interface IndexInfo {
  name: string;
  dimension: number;
  distance: string;
  count: number;
}

/** A 404 of the service, as a LakehouseError (anything else is rethrown). */
function isNotFound(err: unknown): boolean {
  return err instanceof LakehouseError && err.status === 404;
}

/**
 * The embedding of `remember`'s texts. The embed route names its fields `texts[i]`; an agent
 * sent them as `items[i].text`, so the message is reworded with the status and code kept.
 */
async function embedItems(ctx: ToolContext, texts: string[], model?: string): Promise<EmbedAnswer> {
  try {
    return await call<EmbedAnswer>(ctx, "embed", "", {
      method: "POST",
      json: defined({ texts, model }),
    });
  } catch (err) {
    if (err instanceof LakehouseError) {
      const message = err.message
        .replace(/\btexts\[(\d+)\]/g, "items[$1].text")
        .replace(/^texts:/, "items:");
      throw new LakehouseError(err.code, message, { status: err.status });
    }
    throw err;
  }
}

/** The dimension of a model's vectors (the configured default model when none is named): one probe text embedded. */
async function modelDimension(
  ctx: ToolContext,
  model?: string,
): Promise<{ model: string; dimension: number }> {
  const res = await call<EmbedAnswer>(ctx, "embed", "", {
    method: "POST",
    json: defined({ texts: ["dimension probe"], model }),
  });
  if (!res.vectors?.[0]?.length)
    throw new LakehouseError("bad_gateway", "embed returned no vector for the dimension probe");
  return { model: res.model, dimension: res.vectors[0].length };
}

interface RememberItem {
  id: string;
  text: string;
  metadata?: Record<string, unknown>;
}

/**
 * remember: first checks what would refuse the batch, before anything is created (the number of
 * items, each item's metadata within [vectord].max_metadata_bytes), finds or creates the index,
 * embeds every text in one embed call, and adds the batch in one vectors call (an upsert). An
 * index this call created is dropped again when the add is refused, so a refused call leaves
 * nothing behind.
 */
async function remember(args: Record<string, unknown>, ctx: ToolContext): Promise<CallToolResult> {
  const index = args.index as string;
  const items = args.items as RememberItem[];
  const keepText = args.keep_text !== false;
  const maxItems = ctx.config.embedd.max_texts;
  if (items.length > maxItems)
    throw badRequest(
      `items: at most ${maxItems} items per call ([embedd].max_texts), got ${items.length}`,
    );
  const maxMeta = ctx.config.vectord.max_metadata_bytes;
  const stored = items.map((it, i) => {
    const metadata =
      keepText && !(it.metadata && "text" in it.metadata)
        ? { ...it.metadata, text: it.text }
        : it.metadata;
    if (metadata) {
      const bytes = utf8Length(JSON.stringify(metadata));
      if (bytes > maxMeta) {
        const hint =
          keepText && metadata.text === it.text
            ? " (the text is kept in metadata.text: pass keep_text: false to store only its vector)"
            : "";
        throw badRequest(
          `items[${i}].metadata: ${bytes} bytes of JSON, over the ${maxMeta}-byte cap ([vectord].max_metadata_bytes)${hint}`,
        );
      }
    }
    return { id: it.id, metadata };
  });

  const path = `/index/${seg(index)}`;
  let info: IndexInfo | undefined;
  try {
    info = await call<IndexInfo>(ctx, "vectors", path);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    if (args.create !== true) {
      throw new LakehouseError(
        "not_found",
        `vector index ${JSON.stringify(index)} does not exist: create it with create_index, or pass create: true to create it with the embedding model's dimension`,
      );
    }
  }

  const embedded = await embedItems(
    ctx,
    items.map((it) => it.text),
    args.model as string | undefined,
  );
  let created = false;
  if (!info) {
    try {
      info = await call<IndexInfo>(ctx, "vectors", "/index", {
        method: "POST",
        json: {
          name: index,
          dimension: embedded.dimension,
          distance: (args.distance as string | undefined) ?? "cosine",
        },
      });
      created = true;
    } catch (err) {
      // Created meanwhile by another call: use it.
      if (!(err instanceof LakehouseError && err.status === 409)) throw err;
      info = await call<IndexInfo>(ctx, "vectors", path);
    }
  }
  if (info.dimension !== embedded.dimension) {
    throw badRequest(
      `index: ${JSON.stringify(index)} holds ${info.dimension}-d vectors but model ${JSON.stringify(embedded.model)} embeds ${embedded.dimension}-d ones; ` +
        "remember into an index created for this model (create_index with `model`), or name the model the index was made for",
    );
  }
  try {
    const added = await call<{ added: number; count: number }>(ctx, "vectors", `${path}/add`, {
      method: "POST",
      json: {
        items: stored.map((s, i) =>
          s.metadata
            ? { id: s.id, vector: embedded.vectors[i], metadata: s.metadata }
            : { id: s.id, vector: embedded.vectors[i] },
        ),
      },
    });
    return jsonResult(
      { index, model: embedded.model, dimension: embedded.dimension, created, ...added },
      ctx.limits.max_chars,
    );
  } catch (err) {
    if (created) {
      await serviceClient(ctx.env, "vectors", ctx.requestId)
        .fetch(path, { method: "DELETE" })
        .catch(() => undefined);
    }
    throw err;
  }
}

export const TOOLS: ToolDef[] = [
  {
    name: "list_datasets",
    title: "List datasets",
    description:
      "List every dataset in the lakehouse catalog with its id, schema fingerprint, row count, version and last update. Each dataset is a SQL table of the same name (see query_sql).",
    input: {},
    annotations: READ,
    run: async (_args, ctx) =>
      jsonResult(await call(ctx, "catalog", "/list"), ctx.limits.max_chars),
  },
  {
    name: "get_manifest",
    title: "Get a dataset manifest",
    description:
      "Get one dataset's manifest: its schema (column names, types, nullability), the Parquet objects it is stored in, its row count and version. Pass `version` for an older version.",
    input: {
      name: name.describe("dataset name"),
      version: z
        .number()
        .int()
        .min(1)
        .optional()
        .describe("a past version number; latest when omitted"),
    },
    annotations: READ,
    run: async (args, ctx) => {
      const query = args.version !== undefined ? `?version=${args.version}` : "";
      return jsonResult(
        await call(ctx, "catalog", `/manifest/${seg(args.name as string)}${query}`),
        ctx.limits.max_chars,
      );
    },
  },
  {
    name: "query_sql",
    title: "Run a SQL query",
    description:
      "Run one read-only SQL statement (SELECT, WITH, VALUES or EXPLAIN; SQLite dialect) over the lakehouse. Every dataset is a table of the same name. " +
      "Returns columns and rows; results are capped at [mcpd].max_rows rows and say when they were. Use LIMIT and aggregates for big tables.",
    input: {
      sql: z.string().min(1).describe("one SQL statement"),
      params: z
        .array(z.union([z.string(), z.number(), z.boolean(), z.null()]))
        .optional()
        .describe("values for ? placeholders, in order"),
      max_rows: z
        .number()
        .int()
        .min(1)
        .optional()
        .describe("at most this many rows (never more than the server cap)"),
    },
    annotations: READ,
    run: async (args, ctx) => {
      const cap = Math.min(
        (args.max_rows as number | undefined) ?? ctx.limits.max_rows,
        ctx.limits.max_rows,
      );
      const res = await call<SqlAnswer>(ctx, "query", "", {
        method: "POST",
        json: defined({ sql: args.sql, params: args.params, max_rows: cap }),
      });
      let rows = res.rows ?? [];
      let truncated = Boolean(res.truncated);
      if (rows.length > cap) {
        rows = rows.slice(0, cap);
        truncated = true;
      }
      const byBytes = res.truncated_by === "max_result_bytes" && rows.length < cap;
      const preface = truncated
        ? byBytes
          ? `${rows.length} rows shown; the result was truncated at the server's byte cap ([queryd].max_result_bytes) (select fewer or narrower columns, or add LIMIT, WHERE or an aggregate).`
          : `${rows.length} rows shown; the result was truncated at ${cap} rows (add LIMIT, WHERE or an aggregate to see the rest).`
        : `${rows.length} row${rows.length === 1 ? "" : "s"}.`;
      return jsonResult(
        { columns: res.columns, rows, row_count: rows.length, truncated },
        ctx.limits.max_chars,
        preface,
      );
    },
  },
  {
    name: "ingest_csv",
    title: "Ingest a small CSV",
    description:
      "Ingest a small CSV given inline (header row first) as the dataset `name`: types are inferred, the data is stored as Parquet and becomes a SQL table at once. " +
      "mode=replace (default) replaces the dataset's data, mode=append adds rows (same columns required). For big files use the `lakehouse ingest` CLI. " +
      "It changes stored state: a new dataset version (earlier versions are kept by the catalog's retention).",
    input: {
      name: name.describe("dataset name (becomes the SQL table name)"),
      csv: z.string().min(1).describe("the CSV text, header row first"),
      mode: z.enum(["replace", "append"]).optional().describe("replace (default) or append"),
    },
    annotations: WRITE,
    run: async (args, ctx) => {
      const params = new URLSearchParams({ name: args.name as string });
      if (args.mode) params.set("mode", args.mode as string);
      const res = await call(ctx, "ingest", `?${params}`, {
        method: "POST",
        body: args.csv as string,
        headers: { "content-type": "text/csv" },
      });
      return jsonResult(res, ctx.limits.max_chars);
    },
  },
  {
    name: "embed_text",
    title: "Embed text",
    description:
      "Turn texts into embedding vectors with the configured provider (the local one is deterministic and lexical). Returns the model, the dimension and one vector per text, in order.",
    input: {
      texts: z.array(z.string().min(1)).min(1).max(256).describe("texts to embed (none empty)"),
      model: z
        .string()
        .min(1)
        .optional()
        .describe("embedding model; the configured default when omitted"),
    },
    annotations: READ,
    run: async (args, ctx) =>
      jsonResult(
        await call(ctx, "embed", "", {
          method: "POST",
          json: defined({ texts: args.texts, model: args.model }),
        }),
        ctx.limits.max_chars,
      ),
  },
  {
    name: "search_vectors",
    title: "Search one vector index",
    description:
      "Nearest neighbours in one named vector index, closest first, with distances and metadata. Give a `vector` of the index's dimension, or a `text` that is embedded first (with `model`).",
    input: {
      index: name.describe("vector index name"),
      vector: z.array(z.number()).min(1).optional().describe("query vector (wins over text)"),
      text: z.string().min(1).optional().describe("query text, embedded with the embed service"),
      model: z.string().min(1).optional().describe("embedding model for `text`"),
      k: z.number().int().min(1).max(1000).optional().describe("number of results (default 10)"),
      filter: z.record(z.string(), z.unknown()).optional().describe("metadata filter"),
    },
    annotations: READ,
    run: async (args, ctx) => {
      let vector = args.vector as number[] | undefined;
      if (!vector) {
        if (typeof args.text !== "string")
          return errorResult("search_vectors needs `vector` or `text`");
        vector = await embedOne(ctx, args.text, args.model as string | undefined);
      }
      const res = await call(ctx, "vectors", `/index/${seg(args.index as string)}/search`, {
        method: "POST",
        json: defined({ vector, k: args.k, filter: args.filter }),
      });
      return jsonResult(res, ctx.limits.max_chars);
    },
  },
  {
    name: "matrix_search",
    title: "Search several corpora at once",
    description:
      "Retrieve across several vector indexes (corpora) at once, merged by distance, optionally boosted by playbooks of what worked before and filtered by metadata " +
      "(a scalar means equal, a list means any of). Give `query_text` (embedded) or `query_vector`.",
    input: {
      query_text: z.string().min(1).optional(),
      query_vector: z.array(z.number()).min(1).optional(),
      corpora: z.array(z.string().min(1)).min(1).describe("vector index names to search"),
      k: z.number().int().min(1).max(1000).optional(),
      per_corpus_k: z.number().int().min(1).max(1000).optional(),
      model: z.string().min(1).optional(),
      metadata_filter: z.record(z.string(), z.unknown()).optional(),
      use_playbook: z.boolean().optional(),
      playbook_corpus: z.string().min(1).optional(),
      playbook_top_k: z.number().int().min(1).optional(),
      playbook_max_distance: z.number().optional(),
    },
    annotations: READ,
    run: async (args, ctx) => {
      if (args.query_text === undefined && args.query_vector === undefined)
        return errorResult("matrix_search needs `query_text` or `query_vector`");
      return jsonResult(
        await call(ctx, "matrix", "/search", { method: "POST", json: defined({ k: 10, ...args }) }),
        ctx.limits.max_chars,
      );
    },
  },
  {
    name: "pathway_add",
    title: "Add a trace to pathway memory",
    description:
      "Append a trace (any JSON content, optional tags, optional predecessor) to the versioned pathway memory (stored state: a new trace). With idempotent=true an existing uid is not rewritten; its replay_count is bumped.",
    input: {
      content: z
        .union([
          z.string(),
          z.number(),
          z.boolean(),
          z.record(z.string(), z.unknown()),
          z.array(z.unknown()),
        ])
        .describe("the trace content (any JSON)"),
      uid: z.string().min(1).optional().describe("trace id; generated when omitted"),
      predecessor_uid: z.string().min(1).optional(),
      tags: z.array(z.string().min(1)).optional(),
      idempotent: z.boolean().optional().describe("use add_idempotent semantics"),
    },
    annotations: WRITE,
    run: async (args, ctx) => {
      const { idempotent, ...trace } = args;
      const res = await call(ctx, "pathway", idempotent ? "/add_idempotent" : "/add", {
        method: "POST",
        json: defined(trace),
      });
      return jsonResult(res, ctx.limits.max_chars);
    },
  },
  {
    name: "pathway_search",
    title: "Search pathway memory",
    description:
      "Find traces in pathway memory by tags and/or text, newest first; retired traces only with include_retired.",
    input: {
      text: z.string().min(1).optional(),
      tags: z.array(z.string().min(1)).optional(),
      include_retired: z.boolean().optional(),
      limit: z.number().int().min(1).max(1000).optional(),
    },
    annotations: READ,
    run: async (args, ctx) =>
      jsonResult(
        await call(ctx, "pathway", "/search", { method: "POST", json: defined(args) }),
        ctx.limits.max_chars,
      ),
  },
  {
    name: "pathway_history",
    title: "History of a trace",
    description: "Walk a trace's predecessors (its revisions), newest first.",
    input: { uid: z.string().min(1) },
    annotations: READ,
    run: async (args, ctx) =>
      jsonResult(
        await call(ctx, "pathway", `/history/${seg(args.uid as string)}`),
        ctx.limits.max_chars,
      ),
  },
  {
    name: "observer_stats",
    title: "Observer statistics",
    description:
      "Live statistics of the observer: operations seen, successes and failures, counts by source, and the most recent scenario operations.",
    input: {},
    annotations: READ,
    run: async (_args, ctx) =>
      jsonResult(await call(ctx, "observer", "/stats"), ctx.limits.max_chars),
  },
  {
    name: "record_event",
    title: "Record an operation",
    description:
      "Record one operation (an ObservedOp) in the observer (stored state: one op in its durable log and statistics): what endpoint or step ran, whether it succeeded, how long it took, and short input/output summaries.",
    input: {
      endpoint: z.string().min(1).describe("what ran (an endpoint, a tool, a step)"),
      success: z.boolean(),
      input_summary: z.string().optional(),
      output_summary: z.string().optional(),
      duration_ms: z.number().min(0).optional(),
      error: z.string().optional(),
      source: z
        .enum(["mcp", "scenario", "langfuse", "overseer_correction", "workflow", "inbox"])
        .optional(),
      timestamp: z.string().optional().describe("ISO-8601; now when omitted"),
      staffer_id: z.string().optional(),
      sig_hash: z.string().optional(),
      event_kind: z.string().optional(),
      role: z.string().optional(),
      city: z.string().optional(),
      state: z.string().optional(),
      count: z.number().optional(),
      rescue_attempted: z.boolean().optional(),
      rescue_succeeded: z.boolean().optional(),
    },
    annotations: WRITE,
    run: async (args, ctx) => {
      const op = { input_summary: "", output_summary: "", duration_ms: 0, ...args };
      return jsonResult(
        await call(ctx, "observer", "/event", { method: "POST", json: defined(op) }),
        ctx.limits.max_chars,
      );
    },
  },
  {
    name: "review",
    title: "Review an answer",
    description:
      "Ask the observer to review an answer against its source material: accept, reject or cycle (try again), with a confidence and notes. Every verdict is kept (stored state: the verdict in the observer).",
    input: {
      response: z.string().min(1).describe("the answer to review"),
      source_content: z.string().describe("the material the answer should be grounded in"),
      grounding_stats: z.record(z.string(), z.unknown()).optional(),
      model: z.string().optional(),
      attempt: z.number().int().min(0).optional(),
    },
    annotations: WRITE,
    run: async (args, ctx) =>
      jsonResult(
        await call(ctx, "observer", "/review", { method: "POST", json: defined(args) }),
        ctx.limits.max_chars,
      ),
  },
  {
    name: "create_index",
    title: "Create a vector index",
    description:
      "Create a new, empty named vector index (stored state: a new index that search_vectors, remember and matrix_search can use). " +
      "Give `dimension`, or `model` to use that embedding model's dimension (neither: the configured default model's). " +
      "distance is cosine (default), euclidean or dot. An index that exists already is an error (409), never overwritten.",
    input: {
      name: name.describe("index name: 1–64 of A-Z a-z 0-9 _ . -, starting with a letter or digit"),
      dimension: z
        .number()
        .int()
        .optional()
        .describe("vector dimension (1 to [vectord].max_dimension); omit to take the model's"),
      model: z
        .string()
        .min(1)
        .optional()
        .describe("embedding model whose dimension the index gets (when `dimension` is omitted)"),
      distance: DISTANCE.optional().describe("cosine (default), euclidean or dot"),
    },
    annotations: WRITE,
    run: async (args, ctx) => {
      if (args.dimension !== undefined && args.model !== undefined) {
        throw badRequest(
          "dimension, model: give one of them, not both (the model's dimension is used when dimension is omitted)",
        );
      }
      let dimension = args.dimension as number | undefined;
      let model: string | undefined;
      if (dimension === undefined)
        ({ model, dimension } = await modelDimension(ctx, args.model as string | undefined));
      const res = await call<Record<string, unknown>>(ctx, "vectors", "/index", {
        method: "POST",
        json: defined({ name: args.name, dimension, distance: args.distance }),
      });
      return jsonResult(model ? { ...res, model } : res, ctx.limits.max_chars);
    },
  },
  {
    name: "list_indexes",
    title: "List vector indexes",
    description:
      "List every vector index with its dimension, distance and number of vectors. Changes nothing.",
    input: {},
    annotations: READ,
    run: async (_args, ctx) =>
      jsonResult(await call(ctx, "vectors", "/index"), ctx.limits.max_chars),
  },
  {
    name: "remember",
    title: "Remember texts in a vector index",
    description:
      "Store texts in a vector index so search_vectors and matrix_search find them (stored state: each item's vector and metadata, an upsert: an existing id is replaced). " +
      "Every text is embedded with the configured provider (or `model`) in one call; the text itself is kept in metadata.text unless keep_text is false. " +
      "With create=true a missing index is created first with the model's dimension; otherwise it must exist. At most [embedd].max_texts items per call.",
    input: {
      index: name.describe("vector index name"),
      items: z
        .array(
          z.object({
            id: z
              .string()
              .min(1)
              .max(512)
              .describe("the id search hits return (an existing id is replaced)"),
            text: z.string().min(1).describe("the text to embed and remember"),
            metadata: z
              .record(z.string(), z.unknown())
              .optional()
              .describe("returned with hits; what filters match"),
          }),
        )
        .min(1)
        .describe("the texts to remember, each with its id"),
      model: z
        .string()
        .min(1)
        .optional()
        .describe("embedding model; the configured default when omitted"),
      create: z
        .boolean()
        .optional()
        .describe("create the index when it does not exist (with the model's dimension)"),
      distance: DISTANCE.optional().describe(
        "distance of an index created by this call (default cosine)",
      ),
      keep_text: z.boolean().optional().describe("keep each text in metadata.text (default true)"),
    },
    annotations: { ...WRITE, idempotentHint: true },
    run: remember,
  },
  {
    name: "forget",
    title: "Forget items of a vector index",
    description:
      "Delete items by id from a vector index (stored state: those vectors and their metadata are removed for good; ids not in the index are ignored). Returns how many were deleted.",
    input: {
      index: name.describe("vector index name"),
      ids: z.array(z.string()).describe("ids of the items to delete"),
    },
    annotations: DESTROY,
    run: async (args, ctx) => {
      const res = await call<{ deleted: number }>(
        ctx,
        "vectors",
        `/index/${seg(args.index as string)}/delete`,
        { method: "POST", json: { ids: args.ids } },
      );
      return jsonResult({ index: args.index, ...res }, ctx.limits.max_chars);
    },
  },
  {
    name: "record_playbook",
    title: "Record a playbook",
    description:
      "Record that a hit answered a query well (stored state: one playbook entry in the playbook corpus, created on first use). " +
      "Later matrix_search calls with use_playbook=true boost that hit (answer_id in answer_corpus) for similar queries: its distance × (1 − 0.5 × score).",
    input: {
      query_text: z.string().min(1).describe("the query that was answered"),
      answer_id: z.string().min(1).describe("the id of the hit that answered it"),
      answer_corpus: z.string().min(1).describe("the corpus (vector index) that hit is in"),
      score: z.number().describe("how good the answer was, 0 to 1 (1 halves its distance)"),
      tags: z.array(z.string()).optional(),
      model: z.string().min(1).optional().describe("embedding model for query_text"),
    },
    annotations: WRITE,
    run: async (args, ctx) =>
      jsonResult(
        await call(ctx, "matrix", "/playbooks/record", { method: "POST", json: defined(args) }),
        ctx.limits.max_chars,
      ),
  },
  {
    name: "pathway_revise",
    title: "Revise a trace",
    description:
      "Add a new trace that revises an existing one (stored state: a new trace linked to predecessor_uid; the predecessor is kept unchanged). " +
      "pathway_history of the new uid walks back through its revisions.",
    input: {
      predecessor_uid: z.string().min(1).describe("the trace this one revises (must exist)"),
      content: CONTENT.describe("the new trace content (any JSON)"),
      uid: z.string().min(1).optional().describe("uid of the new trace; generated when omitted"),
      tags: z.array(z.string().min(1)).optional(),
    },
    annotations: WRITE,
    run: async (args, ctx) =>
      jsonResult(
        await call(ctx, "pathway", "/revise", { method: "POST", json: defined(args) }),
        ctx.limits.max_chars,
      ),
  },
  {
    name: "pathway_retire",
    title: "Retire a trace",
    description:
      "Retire a trace (stored state: it is marked retired, hidden from pathway_search unless include_retired, still shown by pathway_history). Nothing is deleted.",
    input: { uid: z.string().min(1).describe("the trace to retire") },
    annotations: DESTROY,
    run: async (args, ctx) =>
      jsonResult(
        await call(ctx, "pathway", "/retire", { method: "POST", json: { uid: args.uid } }),
        ctx.limits.max_chars,
      ),
  },
];

/** Tools that change stored state (readOnlyHint not true): hidden and refused when [mcpd].read_only is set. */
export const WRITING_TOOLS: ReadonlySet<string> = new Set(
  TOOLS.filter((t) => t.annotations?.readOnlyHint !== true).map((t) => t.name),
);

/** The tools a server with this configuration offers. */
export function visibleTools(mcpd: LakehouseConfig["mcpd"]): ToolDef[] {
  return mcpd.read_only ? TOOLS.filter((t) => !WRITING_TOOLS.has(t.name)) : TOOLS;
}
