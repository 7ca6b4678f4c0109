// The matrix Worker in workerd with the real embed and vectors Workers behind it:
// merged multi-corpus search, metadata round-trip and filter, fail-loud 502, playbook
// recording and boost, relevance signals, the downgrade truth table, and bad input.
import { env, exports } from "cloudflare:workers";
import type { z } from "@hono/zod-openapi";
import { beforeAll, describe, expect, it } from "vitest";
import { describeIssues } from "../../../shared/field-errors";
import worker from "../src/index";
import { DowngradeBody, RecordBody, RelevanceBody, SearchBody } from "../src/openapi";

type Json = any;

async function call(
  path: string,
  json?: unknown,
  bindings?: Record<string, unknown>,
): Promise<{ status: number; body: Json }> {
  const req = new Request(`http://x/matrix${path}`, {
    method: json === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json" },
    body: json === undefined ? undefined : JSON.stringify(json),
  });
  const res = bindings
    ? await worker.fetch(req, { ...env, ...bindings } as Env, {} as ExecutionContext)
    : await exports.default.fetch(req);
  return { status: res.status, body: await res.json() };
}

async function vectors(path: string, json?: unknown): Promise<Json> {
  const res = await env.VECTORS.fetch(`http://vectors/vectors${path}`, {
    method: json === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json" },
    body: json === undefined ? undefined : JSON.stringify(json),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`vectors ${path}: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

beforeAll(async () => {
  // Two small corpora in a 3-d space; the query [1, 0, 0] is closest to b1, then a1, a2, b2.
  await vectors("/index", { name: "corpus_a", dimension: 3, distance: "euclidean" });
  await vectors("/index", { name: "corpus_b", dimension: 3, distance: "euclidean" });
  await vectors("/index/corpus_a/add", {
    items: [
      { id: "a1", vector: [0.8, 0, 0], metadata: { kind: "doc", year: 2020 } },
      { id: "a2", vector: [0.5, 0.5, 0], metadata: { kind: "code", year: 2021 } },
      { id: "a3", vector: [-1, 0, 0] },
    ],
  });
  await vectors("/index/corpus_b/add", {
    items: [
      { id: "b1", vector: [0.95, 0, 0], metadata: { kind: "doc", year: 2020.0 } },
      { id: "b2", vector: [0, 1, 1], metadata: { kind: "note", year: 2019 } },
    ],
  });
});

describe("matrix search", () => {
  it("merges two corpora with the global closest first, counts per corpus, keeps metadata", async () => {
    const { status, body } = await call("/search", {
      query_vector: [1, 0, 0],
      corpora: ["corpus_a", "corpus_b"],
      k: 4,
    });
    expect(status).toBe(200);
    expect(body.results.map((h: Json) => `${h.corpus}:${h.id}`)).toEqual([
      "corpus_b:b1",
      "corpus_a:a1",
      "corpus_a:a2",
      "corpus_b:b2",
    ]);
    expect(body.results[0].distance).toBeCloseTo(0.05, 5);
    expect(body.results[0].metadata).toEqual({ kind: "doc", year: 2020 });
    expect(body.per_corpus).toEqual({ corpus_a: 3, corpus_b: 2 });
    expect(body.metadata_filter_dropped).toBe(0);
  });

  it("the metadata filter keeps exactly the matching hits and reports how many it dropped", async () => {
    const eq = await call("/search", {
      query_vector: [1, 0, 0],
      corpora: ["corpus_a", "corpus_b"],
      k: 10,
      metadata_filter: { kind: "doc", year: 2020.0 },
    });
    expect(eq.body.results.map((h: Json) => h.id)).toEqual(["b1", "a1"]);
    expect(eq.body.metadata_filter_dropped).toBe(3); // a2, a3 (no metadata), b2
    const anyOf = await call("/search", {
      query_vector: [1, 0, 0],
      corpora: ["corpus_a", "corpus_b"],
      k: 10,
      metadata_filter: { kind: ["code", "note"] },
    });
    expect(anyOf.body.results.map((h: Json) => h.id)).toEqual(["a2", "b2"]);
    expect(anyOf.body.metadata_filter_dropped).toBe(3);
  });

  it("embeds query_text through embed; query_vector wins when both are given", async () => {
    await vectors("/index", { name: "texts", dimension: 768, distance: "cosine" });
    const texts = [
      "postgres connection pooling",
      "bananas are yellow fruit",
      "rust borrow checker lifetimes",
    ];
    const emb = await env.EMBED.fetch("http://embed/embed", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ texts }),
    });
    const { vectors: vecs } = (await emb.json()) as { vectors: number[][] };
    await vectors("/index/texts/add", {
      items: texts.map((t, i) => ({ id: `t${i}`, vector: vecs[i], metadata: { text: t } })),
    });
    const byText = await call("/search", {
      query_text: "rust borrow checker lifetimes",
      corpora: ["texts"],
      k: 3,
    });
    expect(byText.status).toBe(200);
    expect(byText.body.results[0].id).toBe("t2");
    expect(byText.body.results[0].distance).toBeCloseTo(0, 5);
    const both = await call("/search", {
      query_text: "rust borrow checker lifetimes",
      query_vector: vecs[1],
      corpora: ["texts"],
      k: 1,
    });
    expect(both.body.results[0].id).toBe("t1");
  });

  it("an unknown corpus is a 404 naming it; a query vector of another dimension a 400 naming the field and both dimensions (#21)", async () => {
    const missing = await call("/search", {
      query_vector: [1, 0, 0],
      corpora: ["corpus_a", "no_such_corpus"],
      k: 3,
    });
    expect(missing.status, JSON.stringify(missing.body)).toBe(404);
    expect(missing.body.error.code).toBe("not_found");
    expect(missing.body.error.message).toMatch(
      /corpora\[1\]: corpus "no_such_corpus" does not exist/,
    );
    const wrongDim = await call("/search", {
      query_vector: [1, 0, 0, 0],
      corpora: ["corpus_a"],
      k: 3,
    });
    expect(wrongDim.status, JSON.stringify(wrongDim.body)).toBe(400);
    expect(wrongDim.body.error.code).toBe("bad_request");
    expect(wrongDim.body.error.message).toMatch(
      /query_vector: has 4 dimensions; corpus "corpus_a" \(corpora\[0\]\) has 3/,
    );
    // query_text embedded to 768 dimensions against a 3-d corpus: the caller's choice of corpus, a 400 too
    const textDim = await call("/search", {
      query_text: "hello",
      corpora: ["texts", "corpus_b"],
      k: 3,
    });
    expect(textDim.status, JSON.stringify(textDim.body)).toBe(400);
    expect(textDim.body.error.message).toMatch(
      /query_text: embedded by model "[^"]+" to 768 dimensions; corpus "corpus_b" \(corpora\[1\]\) has 3/,
    );
  });

  it("fails loud with 502 when a corpus fails upstream, and 400 for no corpora or no query", async () => {
    const broken = {
      fetch: async () =>
        new Response(JSON.stringify({ error: { code: "internal", message: "shard exploded" } }), {
          status: 500,
        }),
    };
    const failed = await call(
      "/search",
      { query_vector: [1, 0, 0], corpora: ["corpus_a"], k: 3 },
      { VECTORS: broken },
    );
    expect(failed.status, JSON.stringify(failed.body)).toBe(502);
    expect(failed.body.error.message).toMatch(/corpus_a: shard exploded/);
    const cases: [unknown, RegExp][] = [
      [{ query_vector: [1, 0, 0], corpora: [] }, /corpora: expected a non-empty array/],
      [{ query_vector: [1, 0, 0] }, /corpora: expected a non-empty array/],
      [{ corpora: ["corpus_a"] }, /no query/],
      [{ query_text: "  ", corpora: ["corpus_a"] }, /no query/],
      [
        { query_vector: [1, 0, 0], corpora: ["corpus_a"], k: 0 },
        /k: must be between 1 and 1000, got 0/,
      ],
      [
        {
          query_vector: [1, 0, 0],
          corpora: ["corpus_a"],
          metadata_filter: { kind: { $in: ["x"] } },
        },
        /metadata_filter\.kind: expected a scalar or a non-empty list/,
      ],
      [
        { query_vector: [1, "x", 0], corpora: ["corpus_a"] },
        /query_vector\[1\]: expected a finite number/,
      ],
    ];
    for (const [json, message] of cases) {
      const r = await call("/search", json);
      expect(r.status, JSON.stringify(json)).toBe(400);
      expect(r.body.error.message).toMatch(message);
    }
  });

  it("lists corpora", async () => {
    const { body } = await call("/corpora");
    const names = body.corpora.map((c: Json) => c.name);
    expect(names).toEqual(expect.arrayContaining(["corpus_a", "corpus_b", "texts"]));
    expect(body.corpora.find((c: Json) => c.name === "corpus_a")).toMatchObject({
      dimension: 3,
      distance: "euclidean",
      count: 3,
    });
  });
});

describe("playbooks", () => {
  it("records a playbook in playbook_memory and halves the boosted hit's distance at score 1.0", async () => {
    await vectors("/index", { name: "answers", dimension: 768, distance: "cosine" });
    const texts = [
      "how to rotate the auth token",
      "configure the ingest row group size",
      "rotating secrets safely",
    ];
    const emb = await env.EMBED.fetch("http://embed/embed", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ texts }),
    });
    const { vectors: vecs } = (await emb.json()) as { vectors: number[][] };
    await vectors("/index/answers/add", {
      items: texts.map((t, i) => ({ id: `ans${i}`, vector: vecs[i], metadata: { t } })),
    });
    const query = "how do I rotate the auth token";
    const plain = await call("/search", { query_text: query, corpora: ["answers"], k: 3 });
    const before = plain.body.results.find((h: Json) => h.id === "ans2");
    expect(before).toBeDefined();

    const rec = await call("/playbooks/record", {
      query_text: query,
      answer_id: "ans2",
      answer_corpus: "answers",
      score: 1.0,
      tags: ["auth"],
    });
    expect(rec.status).toBe(201);
    expect(typeof rec.body.playbook_id).toBe("string");
    const stored = await vectors("/index/playbook_memory");
    expect(stored.count).toBe(1);

    const boosted = await call("/search", {
      query_text: query,
      corpora: ["answers"],
      k: 3,
      use_playbook: true,
    });
    const after = boosted.body.results.find((h: Json) => h.id === "ans2");
    expect(after.distance).toBeCloseTo(before.distance * 0.5, 6);
    expect(after.playbook_boost).toBe(1);
    expect(boosted.body.playbook_boosted).toBe(1);
    // Other hits are untouched.
    const other = boosted.body.results.find((h: Json) => h.id === "ans1");
    expect(other.distance).toBeCloseTo(
      plain.body.results.find((h: Json) => h.id === "ans1").distance,
      6,
    );
    // Too far a playbook (max distance 0) boosts nothing.
    const strict = await call("/search", {
      query_text: "configure the ingest row group size",
      corpora: ["answers"],
      k: 3,
      use_playbook: true,
      playbook_max_distance: 0,
    });
    expect(strict.body.playbook_boosted).toBe(0);
  });

  it("validates a playbook record", async () => {
    const r = await call("/playbooks/record", {
      query_text: "q",
      answer_id: "a",
      answer_corpus: "c",
      score: 1.5,
    });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(/score: expected a number from 0 to 1, got 1.5/);
    const r2 = await call("/playbooks/record", { answer_id: "a", answer_corpus: "c", score: 1 });
    expect(r2.body.error.message).toMatch(/query_text: expected a non-empty string/);
  });
});

describe("relevance", () => {
  const focus = {
    path: "src/auth/token.ts",
    content: [
      'import { hashSecret } from "../crypto/hash";',
      'import { Clock } from "../time/clock";',
      "export function rotateToken(old: string, clock: Clock): string { return hashSecret(old + clock.now()); }",
      "export class TokenStore { tokens = new Map<string, string>(); }",
    ].join("\n"),
  };

  it("keeps a chunk about the focus file's own symbols and drops one that only mentions its imports", async () => {
    const chunks = [
      {
        source: "docs/auth.md",
        text: "rotateToken replaces the old token; TokenStore keeps them.",
      },
      {
        source: "lib/crypto/hash.ts",
        text: "hashSecret computes a salted digest with a Clock-independent pepper.",
      },
    ];
    const { status, body } = await call("/relevance", { focus_file: focus, chunks });
    expect(status).toBe(200);
    expect(body.kept.map((c: Json) => c.source)).toEqual(["docs/auth.md"]);
    expect(body.kept[0].signals).toContain("defined_symbol");
    expect(body.kept[0].text).toBe(chunks[0]!.text);
    expect(body.dropped.map((c: Json) => c.source)).toEqual(["lib/crypto/hash.ts"]);
    expect(body.dropped[0].signals).toContain("only_imported_symbols");
    expect(body.dropped[0].score).toBeLessThan(0);
  });

  it("scores path match, file name and shared path prefix", async () => {
    const chunks = [
      { source: "src/auth/token.ts", text: "unrelated words here" },
      { source: "src/auth/session.ts", text: "see token.ts for details" },
      { source: "other/place.ts", text: "nothing in common at all" },
    ];
    const { body } = await call("/relevance", { focus_file: focus, chunks, threshold: 0.5 });
    const all = [...body.kept, ...body.dropped];
    const bySource = Object.fromEntries(all.map((c: Json) => [c.source, c]));
    expect(bySource["src/auth/token.ts"].signals).toEqual(
      expect.arrayContaining(["path_match", "file_name", "path_prefix"]),
    );
    expect(bySource["src/auth/session.ts"].signals).toEqual(
      expect.arrayContaining(["file_name", "path_prefix"]),
    );
    expect(bySource["src/auth/session.ts"].score).toBeCloseTo(0.9, 3);
    expect(body.kept.map((c: Json) => c.source)).toEqual([
      "src/auth/token.ts",
      "src/auth/session.ts",
    ]);
    expect(body.dropped.map((c: Json) => c.source)).toEqual(["other/place.ts"]);
  });

  it("extracts symbols in Rust, Go and Python too", async () => {
    const cases = [
      {
        path: "src/lib.rs",
        content: "use crate::store::Backend;\npub fn open_store() {}\npub struct Ledger;",
        own: "open_store and Ledger",
        imp: "the Backend trait",
      },
      {
        path: "pkg/srv/main.go",
        content:
          'import (\n  "net/http"\n)\nfunc ServeLedger(w http.ResponseWriter) {}\ntype Ledger struct{}',
        own: "ServeLedger writes",
        imp: "http handlers",
      },
      {
        path: "app/jobs.py",
        content:
          "from queue import Backlog\n\ndef run_jobs():\n    pass\n\nclass Worker:\n    pass",
        own: "run_jobs starts a Worker",
        imp: "Backlog holds items",
      },
    ];
    for (const c of cases) {
      const { body } = await call("/relevance", {
        focus_file: { path: c.path, content: c.content },
        chunks: [
          { source: "x/own.md", text: c.own },
          { source: "x/imp.md", text: c.imp },
        ],
      });
      expect(
        body.kept.map((k: Json) => k.source),
        c.path,
      ).toEqual(["x/own.md"]);
      expect(body.dropped[0].signals, c.path).toContain("only_imported_symbols");
    }
  });
});

describe("the OpenAPI document", () => {
  it("lists every matrix route", async () => {
    const { body } = await call("/openapi.json");
    for (const p of [
      "/matrix/search",
      "/matrix/playbooks/record",
      "/matrix/relevance",
      "/matrix/downgrade",
    ])
      expect(body.paths[p]?.post, p).toBeDefined();
    expect(body.paths["/matrix/corpora"].get).toBeDefined();
  });

  it("lists every matrix route with its method and nothing else, with the request schemas", async () => {
    const { body } = await call("/openapi.json");
    const listed = Object.entries(body.paths as Record<string, object>).flatMap(([path, item]) =>
      Object.keys(item).map((m) => `${m} ${path}`),
    );
    expect(listed.sort()).toEqual([
      "get /matrix/corpora",
      "post /matrix/downgrade",
      "post /matrix/playbooks/record",
      "post /matrix/relevance",
      "post /matrix/search",
    ]);
    const search = body.paths["/matrix/search"].post.requestBody.content["application/json"].schema;
    expect(search.required).toEqual(["corpora"]);
    expect(search.properties.corpora).toMatchObject({ type: "array", minItems: 1 });
    const record =
      body.paths["/matrix/playbooks/record"].post.requestBody.content["application/json"].schema;
    expect(record.properties.score).toMatchObject({ type: "number", minimum: 0, maximum: 1 });
  });

  it("validates with the schemas it documents: a rejected body is a 400 worded by describeIssues", async () => {
    const cases: [z.ZodType, string, unknown, string][] = [
      [
        SearchBody,
        "/search",
        { corpora: ["corpus_a", 7], query_vector: [1, 0, 0] },
        "corpora[1]: expected an index name, got 7",
      ],
      [
        SearchBody,
        "/search",
        { corpora: ["corpus_a"], query_vector: [1, 0, 0], use_playbook: "yes" },
        "use_playbook: expected true or false",
      ],
      [
        RelevanceBody,
        "/relevance",
        {
          focus_file: { path: "a.ts", content: "" },
          chunks: [{ source: "x", text: "y" }, { source: "z" }],
        },
        "chunks[1].text: expected a string, got undefined",
      ],
      [
        RelevanceBody,
        "/relevance",
        { focus_file: { path: "a.ts", content: "" }, chunks: [], threshold: 11 },
        "threshold: must be between -10 and 10, got 11",
      ],
      [
        DowngradeBody,
        "/downgrade",
        { mode: "m", forced_mode: "  " },
        "forced_mode: expected a mode name (or true to keep the given mode)",
      ],
      [
        RecordBody,
        "/playbooks/record",
        { query_text: "q", answer_id: "a", answer_corpus: "c", score: 1, tags: "x" },
        "tags: expected an array of strings",
      ],
    ];
    for (const [schema, path, json, message] of cases) {
      const parsed = schema.safeParse(json);
      expect(parsed.success, path).toBe(false);
      expect(describeIssues(parsed.error!.issues)).toBe(message);
      const r = await call(path, json);
      expect(r.status, JSON.stringify(json)).toBe(400);
      expect(r.body.error).toEqual({ code: "bad_request", message });
    }
    // A body without a content type is still read as JSON (no 415).
    const untyped = await exports.default.fetch("http://x/matrix/downgrade", {
      method: "POST",
      body: JSON.stringify({ mode: "summarize" }),
    });
    expect(untyped.status).toBe(200);
    expect(await untyped.json()).toEqual({ mode: "summarize" });
  });
});

describe("downgrade", () => {
  it("follows the truth table", async () => {
    const table: [Record<string, unknown>, Record<string, unknown>][] = [
      [
        { mode: "codereview_lakehouse", model: "gpt-4o" },
        { mode: "codereview_isolation", downgraded_from: "codereview_lakehouse" },
      ],
      [{ mode: "codereview_lakehouse", model: "qwen3:8b" }, { mode: "codereview_lakehouse" }],
      [
        { mode: "codereview_lakehouse", model: "some/model:free" },
        { mode: "codereview_lakehouse" },
      ],
      [
        { mode: "codereview_lakehouse", model: "provider:free/some-model" },
        { mode: "codereview_lakehouse" },
      ],
      [{ mode: "codereview_lakehouse", model: "qwen3:latest" }, { mode: "codereview_lakehouse" }],
      [{ mode: "codereview_lakehouse", model: "Qwen3.5:latest" }, { mode: "codereview_lakehouse" }],
      [
        { mode: "codereview_lakehouse", model: "freestyle:freeish" },
        { mode: "codereview_isolation", downgraded_from: "codereview_lakehouse" },
      ],
      [
        { mode: "codereview_lakehouse", model: "gpt-4o", forced_mode: "codereview_lakehouse" },
        { mode: "codereview_lakehouse", forced: true },
      ],
      [{ mode: "codereview_isolation", model: "gpt-4o" }, { mode: "codereview_isolation" }],
      [{ mode: "summarize", model: "qwen3:8b" }, { mode: "summarize" }],
    ];
    for (const [req, want] of table) {
      const { status, body } = await call("/downgrade", req);
      expect(status, JSON.stringify(req)).toBe(200);
      expect(body, JSON.stringify(req)).toEqual(want);
    }
    const full = await call(
      "/downgrade",
      { mode: "codereview_lakehouse", model: "gpt-4o" },
      { LH_MATRIXD_FORCE_FULL_ENRICHMENT: "true" },
    );
    expect(full.body).toEqual({ mode: "codereview_lakehouse" });
    const empty = await call("/downgrade", { mode: "", model: "gpt-4o" });
    expect(empty.status).toBe(400);
    expect(empty.body.error.message).toMatch(/mode: expected a non-empty string/);
  });
});
