// lakehouse-matrix: retrieval across several vector indexes at once (DESIGN §6 Matrix):
// /search (parallel fan-out, merge by distance, playbook boost, metadata filter, fail-loud),
// /corpora, /playbooks/record, /relevance and /downgrade.
import { documentMatrix } from "./openapi";
import { createServiceApp, readJsonObject } from "../../../shared/app";
import { serviceClient } from "../../../shared/clients";
import { LakehouseError, badRequest } from "../../../shared/errors";
import { lakehouseConfig } from "../../../shared/lakehouse-config";
import type { VectorHit, VectorIndexInfo } from "../../../shared/types";
import { scoreChunks, type Chunk } from "./relevance";

const { app, api } = createServiceApp<Env>("matrix", "matrix");
documentMatrix(api);

type Scalar = string | number | boolean | null;

export interface MatrixHit extends VectorHit {
  corpus: string;
  playbook_boost?: number;
}

function isScalar(v: unknown): v is Scalar {
  return v === null || typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v));
}

function intField(body: Record<string, unknown>, field: string, min: number, max: number, fallback: number): number {
  const v = body[field];
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v)) throw badRequest(`${field}: expected an integer, got ${JSON.stringify(v)}`);
  if (v < min || v > max) throw badRequest(`${field}: must be between ${min} and ${max}, got ${v}`);
  return v;
}

function numberField(body: Record<string, unknown>, field: string, min: number, max: number, fallback: number): number {
  const v = body[field];
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isFinite(v)) throw badRequest(`${field}: expected a number, got ${JSON.stringify(v)}`);
  if (v < min || v > max) throw badRequest(`${field}: must be between ${min} and ${max}, got ${v}`);
  return v;
}

/** metadata_filter: a scalar means equality (5 equals 5.0), a list means any of; keys are ANDed; a hit without the key is dropped. */
export function compileMetadataFilter(filter: unknown): ((md: Record<string, unknown> | undefined) => boolean) | undefined {
  if (filter === undefined || filter === null) return undefined;
  if (typeof filter !== "object" || Array.isArray(filter)) throw badRequest("metadata_filter: expected an object of key → value or list of values");
  const entries = Object.entries(filter as Record<string, unknown>).map(([key, want]) => {
    if (isScalar(want)) return [key, [want]] as const;
    if (Array.isArray(want) && want.length > 0 && want.every(isScalar)) return [key, want as Scalar[]] as const;
    throw badRequest(`metadata_filter.${key}: expected a scalar or a non-empty list of scalars, got ${JSON.stringify(want)}`);
  });
  if (entries.length === 0) return undefined;
  return (md) => {
    if (!md) return false;
    for (const [key, wants] of entries) {
      if (!Object.prototype.hasOwnProperty.call(md, key)) return false;
      const have = md[key];
      if (!wants.some((w) => w === have)) return false;
    }
    return true;
  };
}

function parseVector(v: unknown, field: string): number[] {
  if (!Array.isArray(v) || v.length === 0) throw badRequest(`${field}: expected a non-empty array of numbers`);
  v.forEach((x, i) => {
    if (typeof x !== "number" || !Number.isFinite(x)) throw badRequest(`${field}[${i}]: expected a finite number, got ${JSON.stringify(x)}`);
  });
  return v as number[];
}

async function embedText(env: Env, requestId: string, text: string, model: string | undefined): Promise<{ vector: number[]; model: string }> {
  const res = await serviceClient(env as never, "embed", requestId).json<{ model: string; vectors: number[][] }>("", {
    method: "POST",
    json: model ? { texts: [text], model } : { texts: [text] },
  });
  const vector = res.vectors?.[0];
  if (!vector) throw new LakehouseError("bad_gateway", "embed returned no vector for the query text");
  return { vector, model: res.model };
}

async function searchCorpus(env: Env, requestId: string, corpus: string, vector: number[], k: number): Promise<VectorHit[]> {
  const res = await serviceClient(env as never, "vectors", requestId).json<{ results: VectorHit[] }>(`/index/${encodeURIComponent(corpus)}/search`, {
    method: "POST",
    json: { vector, k },
  });
  return res.results;
}

api.post("/search", async (c) => {
  const body = await readJsonObject(c);
  const cfg = lakehouseConfig(c.env).matrixd;
  const maxK = lakehouseConfig(c.env).vectord.max_k;
  const rid = c.get("requestId");
  const corpora = body.corpora;
  if (!Array.isArray(corpora) || corpora.length === 0) throw badRequest("corpora: expected a non-empty array of vector index names");
  corpora.forEach((x, i) => {
    if (typeof x !== "string" || x === "") throw badRequest(`corpora[${i}]: expected an index name, got ${JSON.stringify(x)}`);
  });
  const names = [...new Set(corpora as string[])];
  const k = intField(body, "k", 1, maxK, cfg.default_k);
  const perCorpusK = intField(body, "per_corpus_k", 1, maxK, Math.min(maxK, Math.max(cfg.per_corpus_k, k)));
  const filter = compileMetadataFilter(body.metadata_filter);
  const usePlaybook = body.use_playbook === true;
  if (body.use_playbook !== undefined && typeof body.use_playbook !== "boolean") throw badRequest("use_playbook: expected true or false");
  const playbookCorpus = body.playbook_corpus === undefined ? cfg.playbook_corpus : String(body.playbook_corpus);
  const playbookTopK = intField(body, "playbook_top_k", 1, maxK, cfg.playbook_top_k);
  const playbookMaxDistance = numberField(body, "playbook_max_distance", 0, Number.MAX_VALUE, cfg.playbook_max_distance);
  if (body.model !== undefined && (typeof body.model !== "string" || body.model === "")) throw badRequest("model: expected a non-empty string");

  let vector: number[];
  let model: string | undefined;
  if (body.query_vector !== undefined && body.query_vector !== null) vector = parseVector(body.query_vector, "query_vector");
  else if (typeof body.query_text === "string" && body.query_text.trim() !== "") {
    const e = await embedText(c.env, rid, body.query_text, body.model as string | undefined);
    vector = e.vector;
    model = e.model;
  } else throw badRequest("no query: give query_text (a non-empty string) or query_vector");

  // Fan out in parallel; any corpus failing fails the whole search (no partial answers).
  const settled = await Promise.allSettled(names.map((name) => searchCorpus(c.env, rid, name, vector, perCorpusK)));
  const failures = settled.flatMap((s, i) => (s.status === "rejected" ? [`${names[i]}: ${(s.reason as Error).message}`] : []));
  if (failures.length > 0) throw new LakehouseError("bad_gateway", `corpus search failed (${failures.length} of ${names.length}): ${failures.join("; ")}`);
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
        throw new LakehouseError("bad_gateway", `playbook corpus ${playbookCorpus} failed: ${(err as Error).message}`);
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
  return c.json({
    results: merged.slice(0, k),
    per_corpus: perCorpus,
    metadata_filter_dropped: dropped,
    playbook_boosted: boosted,
    ...(model ? { model } : {}),
  });
});

api.get("/corpora", async (c) => {
  const res = await serviceClient(c.env as never, "vectors", c.get("requestId")).json<{ indexes: VectorIndexInfo[] }>("/index");
  return c.json({ corpora: res.indexes });
});

api.post("/playbooks/record", async (c) => {
  const body = await readJsonObject(c);
  const cfg = lakehouseConfig(c.env).matrixd;
  const rid = c.get("requestId");
  for (const f of ["query_text", "answer_id", "answer_corpus"] as const) {
    if (typeof body[f] !== "string" || (body[f] as string).trim() === "") throw badRequest(`${f}: expected a non-empty string`);
  }
  const score = body.score;
  if (typeof score !== "number" || !Number.isFinite(score) || score < 0 || score > 1) throw badRequest(`score: expected a number from 0 to 1, got ${JSON.stringify(score)}`);
  const tags = body.tags;
  if (tags !== undefined && (!Array.isArray(tags) || !tags.every((t) => typeof t === "string"))) throw badRequest("tags: expected an array of strings");
  const corpus = cfg.playbook_corpus;
  const { vector, model } = await embedText(c.env, rid, body.query_text as string, body.model as string | undefined);
  const vectors = serviceClient(c.env as never, "vectors", rid);
  const exists = await vectors.fetch(`/index/${encodeURIComponent(corpus)}`);
  if (exists.status === 404) {
    const created = await vectors.fetch("/index", { method: "POST", json: { name: corpus, dimension: vector.length, distance: "cosine" } });
    if (!created.ok && created.status !== 409) throw new LakehouseError("bad_gateway", `could not create the playbook corpus ${corpus}: HTTP ${created.status} ${await created.text()}`);
  } else if (!exists.ok) {
    throw new LakehouseError("bad_gateway", `playbook corpus ${corpus}: HTTP ${exists.status} ${await exists.text()}`);
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
            query_text: body.query_text,
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
});

api.post("/relevance", async (c) => {
  const body = await readJsonObject(c);
  const cfg = lakehouseConfig(c.env).matrixd;
  const focus = body.focus_file as Record<string, unknown> | undefined;
  if (!focus || typeof focus !== "object" || typeof focus.path !== "string" || focus.path === "" || typeof focus.content !== "string") {
    throw badRequest("focus_file: expected {path, content} with a non-empty path and a string content");
  }
  const chunks = body.chunks;
  if (!Array.isArray(chunks)) throw badRequest("chunks: expected an array of {source, text}");
  chunks.forEach((ch, i) => {
    if (typeof ch !== "object" || ch === null || typeof (ch as Chunk).source !== "string" || typeof (ch as Chunk).text !== "string") {
      throw badRequest(`chunks[${i}]: expected {source, text} strings`);
    }
  });
  const threshold = numberField(body, "threshold", -10, 10, cfg.relevance_threshold);
  const result = scoreChunks({ path: focus.path, content: focus.content }, chunks as Chunk[], threshold);
  return c.json({ ...result, threshold });
});

/** A model is weak when [models].weak_models names it or it is a ":free" model. */
export function isWeakModel(model: string, weak: readonly string[]): boolean {
  const m = model.trim().toLowerCase();
  return m.endsWith(":free") || weak.some((w) => w.toLowerCase() === m);
}

api.post("/downgrade", async (c) => {
  const body = await readJsonObject(c);
  const config = lakehouseConfig(c.env);
  const mode = body.mode;
  if (typeof mode !== "string" || mode.trim() === "") throw badRequest("mode: expected a non-empty string");
  const model = typeof body.model === "string" ? body.model : "";
  if (body.model !== undefined && typeof body.model !== "string") throw badRequest("model: expected a string");
  const forced = body.forced_mode;
  if (forced !== undefined && forced !== null && forced !== false && forced !== true && (typeof forced !== "string" || forced.trim() === "")) {
    throw badRequest("forced_mode: expected a mode name (or true to keep the given mode)");
  }
  if (typeof forced === "string") return c.json({ mode: forced, forced: true });
  if (forced === true) return c.json({ mode, forced: true });
  if (mode === "codereview_lakehouse" && !config.matrixd.force_full_enrichment && !isWeakModel(model, config.models.weak_models)) {
    return c.json({ mode: "codereview_isolation", downgraded_from: mode });
  }
  return c.json({ mode });
});

export default app satisfies ExportedHandler<Env>;
