// The MCP tools: each one a zod input schema (the SDK turns it into the JSON schema
// clients see and validates arguments with it), a description a model can act on,
// and a call to the owning service over its binding, per DESIGN §6.
import { z } from "zod";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { serviceClient, type ServiceName } from "../../../shared/clients";
import { LakehouseError } from "../../../shared/errors";
import type { LakehouseConfig } from "../../../shared/config";
import { errorResult, jsonResult } from "./results";

export interface ToolContext {
  env: Record<string, unknown>;
  requestId: string;
  limits: LakehouseConfig["mcpd"];
  /** Aborts every service call of this tool once [mcpd].tool_timeout_ms has passed. */
  signal: AbortSignal;
}

export interface ToolDef {
  name: string;
  title: string;
  description: string;
  input: z.ZodRawShape;
  annotations?: { readOnlyHint?: boolean; destructiveHint?: boolean; idempotentHint?: boolean; openWorldHint?: boolean };
  run(args: Record<string, unknown>, ctx: ToolContext): Promise<CallToolResult>;
}

async function call<T = unknown>(ctx: ToolContext, service: ServiceName, path: string, init: { method?: string; json?: unknown; body?: BodyInit; headers?: HeadersInit } = {}): Promise<T> {
  return serviceClient(ctx.env, service, ctx.requestId).json<T>(path, { ...init, signal: ctx.signal });
}

const seg = (s: string) => encodeURIComponent(s);
const name = z.string().min(1).max(512);
const READ = { readOnlyHint: true, openWorldHint: false } as const;
const WRITE = { readOnlyHint: false, destructiveHint: false, openWorldHint: false } as const;

function defined(obj: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined));
}

interface SqlAnswer {
  columns: { name: string; type: string }[];
  rows: unknown[][];
  row_count: number;
  truncated: boolean;
  elapsed_ms?: number;
}

async function embedOne(ctx: ToolContext, text: string, model?: string): Promise<number[]> {
  const res = await call<{ vectors: number[][] }>(ctx, "embed", "", { method: "POST", json: defined({ texts: [text], model }) });
  const vector = res.vectors?.[0];
  if (!vector) throw new LakehouseError("bad_gateway", "embed returned no vector for the query text");
  return vector;
}

export const TOOLS: ToolDef[] = [
  {
    name: "list_datasets",
    title: "List datasets",
    description: "List every dataset in the lakehouse catalog with its id, schema fingerprint, row count, version and last update. Each dataset is a SQL table of the same name (see query_sql).",
    input: {},
    annotations: READ,
    run: async (_args, ctx) => jsonResult(await call(ctx, "catalog", "/list"), ctx.limits.max_chars),
  },
  {
    name: "get_manifest",
    title: "Get a dataset manifest",
    description: "Get one dataset's manifest: its schema (column names, types, nullability), the Parquet objects it is stored in, its row count and version. Pass `version` for an older version.",
    input: { name: name.describe("dataset name"), version: z.number().int().min(1).optional().describe("a past version number; latest when omitted") },
    annotations: READ,
    run: async (args, ctx) => {
      const query = args.version !== undefined ? `?version=${args.version}` : "";
      return jsonResult(await call(ctx, "catalog", `/manifest/${seg(args.name as string)}${query}`), ctx.limits.max_chars);
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
      params: z.array(z.union([z.string(), z.number(), z.boolean(), z.null()])).optional().describe("values for ? placeholders, in order"),
      max_rows: z.number().int().min(1).optional().describe("at most this many rows (never more than the server cap)"),
    },
    annotations: READ,
    run: async (args, ctx) => {
      const cap = Math.min((args.max_rows as number | undefined) ?? ctx.limits.max_rows, ctx.limits.max_rows);
      const res = await call<SqlAnswer>(ctx, "query", "", { method: "POST", json: defined({ sql: args.sql, params: args.params, max_rows: cap }) });
      let rows = res.rows ?? [];
      let truncated = Boolean(res.truncated);
      if (rows.length > cap) {
        rows = rows.slice(0, cap);
        truncated = true;
      }
      const preface = truncated
        ? `${rows.length} rows shown; the result was truncated at ${cap} rows (add LIMIT, WHERE or an aggregate to see the rest).`
        : `${rows.length} row${rows.length === 1 ? "" : "s"}.`;
      return jsonResult({ columns: res.columns, rows, row_count: rows.length, truncated }, ctx.limits.max_chars, preface);
    },
  },
  {
    name: "ingest_csv",
    title: "Ingest a small CSV",
    description:
      "Ingest a small CSV given inline (header row first) as the dataset `name`: types are inferred, the data is stored as Parquet and becomes a SQL table at once. " +
      "mode=replace (default) replaces the dataset's data, mode=append adds rows (same columns required). For big files use the `lakehouse ingest` CLI.",
    input: {
      name: name.describe("dataset name (becomes the SQL table name)"),
      csv: z.string().min(1).describe("the CSV text, header row first"),
      mode: z.enum(["replace", "append"]).optional().describe("replace (default) or append"),
    },
    annotations: WRITE,
    run: async (args, ctx) => {
      const params = new URLSearchParams({ name: args.name as string });
      if (args.mode) params.set("mode", args.mode as string);
      const res = await call(ctx, "ingest", `?${params}`, { method: "POST", body: args.csv as string, headers: { "content-type": "text/csv" } });
      return jsonResult(res, ctx.limits.max_chars);
    },
  },
  {
    name: "embed_text",
    title: "Embed text",
    description: "Turn texts into embedding vectors with the configured provider (the local one is deterministic and lexical). Returns the model, the dimension and one vector per text, in order.",
    input: {
      texts: z.array(z.string().min(1)).min(1).max(256).describe("texts to embed (none empty)"),
      model: z.string().min(1).optional().describe("embedding model; the configured default when omitted"),
    },
    annotations: READ,
    run: async (args, ctx) => jsonResult(await call(ctx, "embed", "", { method: "POST", json: defined({ texts: args.texts, model: args.model }) }), ctx.limits.max_chars),
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
        if (typeof args.text !== "string") return errorResult("search_vectors needs `vector` or `text`");
        vector = await embedOne(ctx, args.text, args.model as string | undefined);
      }
      const res = await call(ctx, "vectors", `/index/${seg(args.index as string)}/search`, { method: "POST", json: defined({ vector, k: args.k, filter: args.filter }) });
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
      if (args.query_text === undefined && args.query_vector === undefined) return errorResult("matrix_search needs `query_text` or `query_vector`");
      return jsonResult(await call(ctx, "matrix", "/search", { method: "POST", json: defined({ k: 10, ...args }) }), ctx.limits.max_chars);
    },
  },
  {
    name: "pathway_add",
    title: "Add a trace to pathway memory",
    description:
      "Append a trace (any JSON content, optional tags, optional predecessor) to the versioned pathway memory. With idempotent=true an existing uid is not rewritten; its replay_count is bumped.",
    input: {
      content: z.union([z.string(), z.number(), z.boolean(), z.record(z.string(), z.unknown()), z.array(z.unknown())]).describe("the trace content (any JSON)"),
      uid: z.string().min(1).optional().describe("trace id; generated when omitted"),
      predecessor_uid: z.string().min(1).optional(),
      tags: z.array(z.string().min(1)).optional(),
      idempotent: z.boolean().optional().describe("use add_idempotent semantics"),
    },
    annotations: WRITE,
    run: async (args, ctx) => {
      const { idempotent, ...trace } = args;
      const res = await call(ctx, "pathway", idempotent ? "/add_idempotent" : "/add", { method: "POST", json: defined(trace) });
      return jsonResult(res, ctx.limits.max_chars);
    },
  },
  {
    name: "pathway_search",
    title: "Search pathway memory",
    description: "Find traces in pathway memory by tags and/or text, newest first; retired traces only with include_retired.",
    input: {
      text: z.string().min(1).optional(),
      tags: z.array(z.string().min(1)).optional(),
      include_retired: z.boolean().optional(),
      limit: z.number().int().min(1).max(1000).optional(),
    },
    annotations: READ,
    run: async (args, ctx) => jsonResult(await call(ctx, "pathway", "/search", { method: "POST", json: defined(args) }), ctx.limits.max_chars),
  },
  {
    name: "pathway_history",
    title: "History of a trace",
    description: "Walk a trace's predecessors (its revisions), newest first.",
    input: { uid: z.string().min(1) },
    annotations: READ,
    run: async (args, ctx) => jsonResult(await call(ctx, "pathway", `/history/${seg(args.uid as string)}`), ctx.limits.max_chars),
  },
  {
    name: "observer_stats",
    title: "Observer statistics",
    description: "Live statistics of the observer: operations seen, successes and failures, counts by source, and the most recent scenario operations.",
    input: {},
    annotations: READ,
    run: async (_args, ctx) => jsonResult(await call(ctx, "observer", "/stats"), ctx.limits.max_chars),
  },
  {
    name: "record_event",
    title: "Record an operation",
    description: "Record one operation (an ObservedOp) in the observer: what endpoint or step ran, whether it succeeded, how long it took, and short input/output summaries.",
    input: {
      endpoint: z.string().min(1).describe("what ran (an endpoint, a tool, a step)"),
      success: z.boolean(),
      input_summary: z.string().optional(),
      output_summary: z.string().optional(),
      duration_ms: z.number().min(0).optional(),
      error: z.string().optional(),
      source: z.enum(["mcp", "scenario", "langfuse", "overseer_correction", "workflow", "inbox"]).optional(),
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
      return jsonResult(await call(ctx, "observer", "/event", { method: "POST", json: defined(op) }), ctx.limits.max_chars);
    },
  },
  {
    name: "review",
    title: "Review an answer",
    description: "Ask the observer to review an answer against its source material: accept, reject or cycle (try again), with a confidence and notes. Every verdict is kept.",
    input: {
      response: z.string().min(1).describe("the answer to review"),
      source_content: z.string().describe("the material the answer should be grounded in"),
      grounding_stats: z.record(z.string(), z.unknown()).optional(),
      model: z.string().optional(),
      attempt: z.number().int().min(0).optional(),
    },
    annotations: WRITE,
    run: async (args, ctx) => jsonResult(await call(ctx, "observer", "/review", { method: "POST", json: defined(args) }), ctx.limits.max_chars),
  },
];
