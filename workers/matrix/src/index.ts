// lakehouse-matrix: retrieval across several vector indexes at once (DESIGN §6 Matrix):
// /search (parallel fan-out, merge by distance, playbook boost, metadata filter, fail-loud),
// /corpora, /playbooks/record, /relevance and /downgrade.
// Every route is declared with createRoute: the schemas in openapi.ts validate the request
// (a failure is a 400 naming the field and value) and are what GET /matrix/openapi.json shows.
import { createRoute } from "@hono/zod-openapi";
import { createServiceApp, jsonBody, jsonRequest, jsonResponse } from "../../../shared/app";
import { serviceClient } from "../../../shared/clients";
import { badRequest, LakehouseError } from "../../../shared/errors";
import { fieldErrors } from "../../../shared/field-errors";
import { truncateUtf8 } from "../../../shared/json-limits";
import { lakehouseConfig } from "../../../shared/lakehouse-config";
import type { VectorHit, VectorIndexInfo } from "../../../shared/types";
import { MAX_TOTAL_HITS } from "./limits";
import {
  Corpora,
  DowngradeBody,
  DowngradeResult,
  MatrixError,
  RecordBody,
  RecordResult,
  RelevanceBody,
  RelevanceResult,
  SearchBody,
  SearchResult,
} from "./openapi";
import { scoreChunks } from "./relevance";

const { app, api } = createServiceApp<Env>("matrix", "matrix");

const bad = jsonResponse(MatrixError, "invalid input (the message names the field and value)");

type Scalar = string | number | boolean | null;

export interface MatrixHit extends VectorHit {
  corpus: string;
  playbook_boost?: number;
}

function isScalar(v: unknown): v is Scalar {
  return (
    v === null ||
    typeof v === "string" ||
    typeof v === "boolean" ||
    (typeof v === "number" && Number.isFinite(v))
  );
}

/** An integer the schema accepted, within [min, max] from the config (the schema cannot know max). */
function intInRange(
  field: string,
  v: number | undefined,
  min: number,
  max: number,
  fallback: number,
): number {
  if (v === undefined) return fallback;
  if (v < min || v > max) throw badRequest(`${field}: must be between ${min} and ${max}, got ${v}`);
  return v;
}

/** metadata_filter: a scalar means equality (5 equals 5.0), a list means any of; keys are ANDed; a hit without the key is dropped. */
export function compileMetadataFilter(
  filter: unknown,
): ((md: Record<string, unknown> | undefined) => boolean) | undefined {
  if (filter === undefined || filter === null) return undefined;
  if (typeof filter !== "object" || Array.isArray(filter))
    throw badRequest("metadata_filter: expected an object of key → value or list of values");
  const entries = Object.entries(filter as Record<string, unknown>).map(([key, want]) => {
    if (isScalar(want)) return [key, [want]] as const;
    if (Array.isArray(want) && want.length > 0 && want.every(isScalar))
      return [key, want as Scalar[]] as const;
    throw badRequest(
      `metadata_filter.${key}: expected a scalar or a non-empty list of scalars, got ${JSON.stringify(want)}`,
    );
  });
  if (entries.length === 0) return undefined;
  return (md) => {
    if (!md) return false;
    for (const [key, wants] of entries) {
      if (!Object.hasOwn(md, key)) return false;
      const have = md[key];
      if (!wants.some((w) => w === have)) return false;
    }
    return true;
  };
}

async function embedText(
  env: Env,
  requestId: string,
  text: string,
  model: string | undefined,
): Promise<{ vector: number[]; model: string }> {
  const res = await serviceClient(env as never, "embed", requestId).json<{
    model: string;
    vectors: number[][];
  }>("", {
    method: "POST",
    json: model ? { texts: [text], model } : { texts: [text] },
  });
  const vector = res.vectors?.[0];
  if (!vector)
    throw new LakehouseError("bad_gateway", "embed returned no vector for the query text");
  return { vector, model: res.model };
}

/**
 * A corpus search the vectors service refused because of the request (issue #21): the corpus
 * does not exist (404 naming it) or the query has another dimension than the corpus (400 naming
 * the field and both dimensions). Undefined for anything else (the search answers 502).
 */
function callerRefusal(
  corpus: string,
  at: number,
  err: Error,
  field: "query_vector" | "query_text",
  model: string | undefined,
): LakehouseError | undefined {
  if (!(err instanceof LakehouseError)) return undefined;
  const where = `corpus ${JSON.stringify(corpus)} (corpora[${at}])`;
  if (err.status === 404)
    return new LakehouseError(
      "not_found",
      `corpora[${at}]: corpus ${JSON.stringify(corpus)} does not exist (no vector index of that name; GET /v1/matrix/corpora lists them)`,
    );
  const dim = /^vector: dimension mismatch: expected (\d+), got (\d+)$/.exec(err.message);
  if (err.status === 400 && dim) {
    const [, want, got] = dim;
    return field === "query_vector"
      ? badRequest(`query_vector: has ${got} dimensions; ${where} has ${want}`)
      : badRequest(
          `query_text: embedded by model ${JSON.stringify(model ?? "")} to ${got} dimensions; ${where} has ${want} (search corpora made with that model, or pass query_vector)`,
        );
  }
  if (err.status === 400) return badRequest(`${where}: ${err.message}`);
  return undefined;
}

async function searchCorpus(
  env: Env,
  requestId: string,
  corpus: string,
  vector: number[],
  k: number,
): Promise<VectorHit[]> {
  const res = await serviceClient(env as never, "vectors", requestId).json<{
    results: VectorHit[];
  }>(`/index/${encodeURIComponent(corpus)}/search`, {
    method: "POST",
    json: { vector, k },
  });
  return res.results;
}

api.openapi(
  createRoute({
    method: "post",
    path: "/search",
    summary:
      "Search several corpora at once: parallel fan-out, merge by distance, playbook boost, metadata filter",
    middleware: [jsonBody],
    request: { body: jsonRequest(SearchBody) },
    responses: {
      200: jsonResponse(SearchResult, "merged hits, closest first"),
      400: bad,
      502: jsonResponse(MatrixError, "a corpus (or embed) failed: no partial answers"),
    },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const cfg = lakehouseConfig(c.env).matrixd;
    const maxK = lakehouseConfig(c.env).vectord.max_k;
    const rid = c.get("requestId");
    const names = [...new Set(body.corpora)];
    if (names.length > cfg.max_corpora)
      throw badRequest(
        `corpora: at most ${cfg.max_corpora} corpora per search ([matrixd].max_corpora), got ${names.length}`,
      );
    const k = intInRange("k", body.k, 1, maxK, cfg.default_k);
    const perCorpusK = intInRange(
      "per_corpus_k",
      body.per_corpus_k,
      1,
      maxK,
      Math.min(maxK, Math.max(cfg.per_corpus_k, k)),
    );
    // The hits held for the merge: per_corpus_k × corpora, each with up to [vectord].max_metadata_bytes of metadata.
    const maxHits = Math.max(maxK, MAX_TOTAL_HITS);
    if (perCorpusK * names.length > maxHits) {
      throw badRequest(
        `per_corpus_k: ${perCorpusK} × ${names.length} corpora = ${perCorpusK * names.length} hits, over the ${maxHits} one search may merge (max(${MAX_TOTAL_HITS}, [vectord].max_k)); ask fewer per corpus or fewer corpora ([matrixd].max_corpora)`,
      );
    }
    const filter = compileMetadataFilter(body.metadata_filter);
    const usePlaybook = body.use_playbook === true;
    const playbookCorpus = body.playbook_corpus ?? cfg.playbook_corpus;
    const playbookTopK = intInRange(
      "playbook_top_k",
      body.playbook_top_k,
      1,
      maxK,
      cfg.playbook_top_k,
    );
    const playbookMaxDistance = body.playbook_max_distance ?? cfg.playbook_max_distance;

    // The schema made sure there is a query: query_vector, else a non-blank query_text.
    let vector: number[];
    let model: string | undefined;
    if (body.query_vector != null) vector = body.query_vector;
    else {
      const e = await embedText(c.env, rid, body.query_text!, body.model);
      vector = e.vector;
      model = e.model;
    }

    // Fan out in parallel; any corpus failing fails the whole search (no partial answers).
    const settled = await Promise.allSettled(
      names.map((name) => searchCorpus(c.env, rid, name, vector, perCorpusK)),
    );
    const rejected = settled.flatMap((s, i) =>
      s.status === "rejected" ? [{ name: names[i]!, err: s.reason as Error }] : [],
    );
    if (rejected.length > 0) {
      // The caller's mistakes first (an unknown corpus, a query of another dimension), as 4xx naming the field.
      for (const { name, err } of rejected) {
        const refusal = callerRefusal(
          name,
          body.corpora.indexOf(name),
          err,
          body.query_vector != null ? "query_vector" : `query_text`,
          model,
        );
        if (refusal) throw refusal;
      }
      const failures = rejected.map(({ name, err }) => `${name}: ${err.message}`);
      throw new LakehouseError(
        "bad_gateway",
        `corpus search failed (${failures.length} of ${names.length}): ${failures.join("; ")}`,
      );
    }
    const perCorpus: Record<string, number> = {};
    let merged: MatrixHit[] = [];
    settled.forEach((s, i) => {
      const hits = (s as PromiseFulfilledResult<VectorHit[]>).value;
      perCorpus[names[i]!] = hits.length;
      for (const h of hits) merged.push({ ...h, corpus: names[i]! });
    });

    let boosted = 0;
    if (usePlaybook) {
      let plays: VectorHit[] = [];
      try {
        plays = await searchCorpus(c.env, rid, playbookCorpus, vector, playbookTopK);
      } catch (err) {
        // No playbook recorded yet is not a failure: there is simply nothing to boost with.
        if (!(err instanceof LakehouseError && err.status === 404)) {
          throw new LakehouseError(
            "bad_gateway",
            `playbook corpus ${playbookCorpus} failed: ${(err as Error).message}`,
          );
        }
      }
      const boost = new Map<string, number>();
      for (const p of plays) {
        if (p.distance > playbookMaxDistance) continue;
        const md = p.metadata ?? {};
        const score = typeof md.score === "number" ? Math.min(1, Math.max(0, md.score)) : 0;
        const key = `${String(md.answer_corpus)}\u0000${String(md.answer_id)}`;
        boost.set(key, Math.max(boost.get(key) ?? 0, score));
      }
      for (const h of merged) {
        const score = boost.get(`${h.corpus}\u0000${h.id}`);
        if (score === undefined) continue;
        h.distance = h.distance * (1 - 0.5 * score);
        h.playbook_boost = score;
        boosted++;
      }
    }

    merged.sort((a, b) => a.distance - b.distance);
    let dropped = 0;
    if (filter) {
      const before = merged.length;
      merged = merged.filter((h) => filter(h.metadata));
      dropped = before - merged.length;
    }
    return c.json(
      {
        results: merged.slice(0, k),
        per_corpus: perCorpus,
        metadata_filter_dropped: dropped,
        playbook_boosted: boosted,
        ...(model ? { model } : {}),
      },
      200,
    );
  },
  fieldErrors,
);

api.openapi(
  createRoute({
    method: "get",
    path: "/corpora",
    summary: "The vector indexes",
    responses: { 200: jsonResponse(Corpora, "corpora") },
  }),
  async (c) => {
    const res = await serviceClient(c.env as never, "vectors", c.get("requestId")).json<{
      indexes: VectorIndexInfo[];
    }>("/index");
    return c.json({ corpora: res.indexes as unknown as Record<string, unknown>[] }, 200);
  },
);

api.openapi(
  createRoute({
    method: "post",
    path: "/playbooks/record",
    summary: "Record what answered a query (stored in the playbook corpus)",
    middleware: [jsonBody],
    request: { body: jsonRequest(RecordBody) },
    responses: {
      201: jsonResponse(RecordResult, "recorded"),
      400: bad,
      502: jsonResponse(MatrixError, "embed or vectors failed"),
    },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const cfg = lakehouseConfig(c.env).matrixd;
    const rid = c.get("requestId");
    const { score, tags } = body;
    const corpus = cfg.playbook_corpus;
    const { vector, model } = await embedText(c.env, rid, body.query_text, body.model);
    const vectors = serviceClient(c.env as never, "vectors", rid);
    const exists = await vectors.fetch(`/index/${encodeURIComponent(corpus)}`);
    if (exists.status === 404) {
      const created = await vectors.fetch("/index", {
        method: "POST",
        json: { name: corpus, dimension: vector.length, distance: "cosine" },
      });
      if (!created.ok && created.status !== 409)
        throw new LakehouseError(
          "bad_gateway",
          `could not create the playbook corpus ${corpus}: HTTP ${created.status} ${await created.text()}`,
        );
    } else if (!exists.ok) {
      throw new LakehouseError(
        "bad_gateway",
        `playbook corpus ${corpus}: HTTP ${exists.status} ${await exists.text()}`,
      );
    }
    const playbookId = crypto.randomUUID();
    await vectors.json(`/index/${encodeURIComponent(corpus)}/add`, {
      method: "POST",
      json: {
        items: [
          {
            id: playbookId,
            vector,
            metadata: {
              // Shown with hits only (the vector is of the whole text): kept within the metadata cap.
              query_text: truncateUtf8(body.query_text, 1024),
              answer_id: body.answer_id,
              answer_corpus: body.answer_corpus,
              score,
              ...(tags ? { tags } : {}),
              model,
              recorded_at: new Date().toISOString(),
            },
          },
        ],
      },
    });
    return c.json({ playbook_id: playbookId, corpus }, 201);
  },
  fieldErrors,
);

api.openapi(
  createRoute({
    method: "post",
    path: "/relevance",
    summary:
      "Keep chunks relevant to a focus file (path, file name, symbols, token overlap, path prefix; imported-only penalised)",
    middleware: [jsonBody],
    request: { body: jsonRequest(RelevanceBody) },
    responses: {
      200: jsonResponse(RelevanceResult, "kept and dropped chunks with score and signals"),
      400: bad,
    },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const threshold = body.threshold ?? lakehouseConfig(c.env).matrixd.relevance_threshold;
    const result = scoreChunks(body.focus_file, body.chunks, threshold);
    return c.json({ ...result, threshold }, 200);
  },
  fieldErrors,
);

/**
 * A model is weak when [models].weak_models names it (case-insensitively) or it is a free tier
 * model: a ":free" suffix (`meta/llama:free`) or a ":free/" infix (`openrouter:free/qwen3`), as the seed's gate.
 */
export function isWeakModel(model: string, weak: readonly string[]): boolean {
  const m = model.trim().toLowerCase();
  return (
    m.endsWith(":free") || m.includes(":free/") || weak.some((w) => w.trim().toLowerCase() === m)
  );
}

api.openapi(
  createRoute({
    method: "post",
    path: "/downgrade",
    summary: "Downgrade codereview_lakehouse to codereview_isolation for models that are not weak",
    middleware: [jsonBody],
    request: { body: jsonRequest(DowngradeBody) },
    responses: { 200: jsonResponse(DowngradeResult, "the mode to use"), 400: bad },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const config = lakehouseConfig(c.env);
    const { mode, forced_mode: forced } = body;
    const model = body.model ?? "";
    if (typeof forced === "string") return c.json({ mode: forced, forced: true }, 200);
    if (forced === true) return c.json({ mode, forced: true }, 200);
    if (
      mode === "codereview_lakehouse" &&
      !config.matrixd.force_full_enrichment &&
      !isWeakModel(model, config.models.weak_models)
    ) {
      return c.json({ mode: "codereview_isolation", downgraded_from: mode }, 200);
    }
    return c.json({ mode }, 200);
  },
  fieldErrors,
);

export default app satisfies ExportedHandler<Env>;
