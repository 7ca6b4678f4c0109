// OpenAPI entries of the matrix routes (documentation only; the handlers validate by hand).
import { z } from "@hono/zod-openapi";
import type { OpenAPIHono } from "@hono/zod-openapi";

const Err = z.object({ error: z.object({ code: z.string(), message: z.string() }) }).openapi("MatrixError");
const json = (schema: z.ZodType) => ({ content: { "application/json": { schema } }, required: true });
const ok = (description: string, schema: z.ZodType) => ({ description, content: { "application/json": { schema } } });
const err = (description: string) => ({ description, content: { "application/json": { schema: Err } } });
const Chunk = z.object({ source: z.string(), text: z.string() }).passthrough();
const Scored = Chunk.extend({ score: z.number(), signals: z.array(z.string()) });

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function documentMatrix(api: OpenAPIHono<any>): void {
  const reg = api.openAPIRegistry;
  reg.registerPath({
    method: "post", path: "/search", summary: "Search several corpora at once: parallel fan-out, merge by distance, playbook boost, metadata filter",
    request: {
      body: json(z.object({
        query_text: z.string().optional(), query_vector: z.array(z.number()).optional(), corpora: z.array(z.string()).min(1),
        k: z.number().int().optional(), per_corpus_k: z.number().int().optional(), model: z.string().optional(),
        metadata_filter: z.record(z.string(), z.unknown()).optional(), use_playbook: z.boolean().optional(), playbook_corpus: z.string().optional(),
        playbook_top_k: z.number().int().optional(), playbook_max_distance: z.number().optional(),
      })),
    },
    responses: {
      200: ok("merged hits", z.object({
        results: z.array(z.object({ id: z.string(), distance: z.number(), corpus: z.string(), metadata: z.record(z.string(), z.unknown()).optional(), playbook_boost: z.number().optional() })),
        per_corpus: z.record(z.string(), z.number().int()), metadata_filter_dropped: z.number().int(), playbook_boosted: z.number().int(),
      })),
      400: err("no corpora, no query, invalid field"),
      502: err("a corpus (or embed) failed: no partial answers"),
    },
  });
  reg.registerPath({ method: "get", path: "/corpora", summary: "The vector indexes", responses: { 200: ok("corpora", z.object({ corpora: z.array(z.record(z.string(), z.unknown())) })) } });
  reg.registerPath({
    method: "post", path: "/playbooks/record", summary: "Record what answered a query (stored in the playbook corpus)",
    request: { body: json(z.object({ query_text: z.string(), answer_id: z.string(), answer_corpus: z.string(), score: z.number().min(0).max(1), tags: z.array(z.string()).optional() })) },
    responses: { 201: ok("recorded", z.object({ playbook_id: z.string(), corpus: z.string() })), 400: err("invalid field") },
  });
  reg.registerPath({
    method: "post", path: "/relevance", summary: "Keep chunks relevant to a focus file (path, file name, symbols, token overlap, path prefix; imported-only penalised)",
    request: { body: json(z.object({ focus_file: z.object({ path: z.string(), content: z.string() }), chunks: z.array(Chunk), threshold: z.number().optional() })) },
    responses: { 200: ok("kept and dropped chunks with score and signals", z.object({ kept: z.array(Scored), dropped: z.array(Scored), threshold: z.number() })), 400: err("invalid field") },
  });
  reg.registerPath({
    method: "post", path: "/downgrade", summary: "Downgrade codereview_lakehouse to codereview_isolation for models that are not weak",
    request: { body: json(z.object({ mode: z.string(), model: z.string().optional(), forced_mode: z.union([z.string(), z.boolean()]).optional() })) },
    responses: { 200: ok("the mode to use", z.object({ mode: z.string(), downgraded_from: z.string().optional(), forced: z.boolean().optional() })), 400: err("empty mode") },
  });
}
