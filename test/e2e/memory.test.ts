// The memory plane through the gateway, as an agent uses it: vector indexes (the seed's
// smokes, with kill-and-restart), embeddings with the shared cache, and matrix retrieval
// with playbooks — all under `wrangler dev`, state surviving restarts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededRandom as seeded } from "../../shared/random.ts";
import { type System, startSystem } from "./harness";

const DIM = 64;
const r = seeded(11);
const VECS = Array.from({ length: 200 }, () => Array.from({ length: DIM }, () => r() * 2 - 1));

describe("memory plane through the gateway", () => {
  let sys: System;
  beforeAll(async () => {
    sys = await startSystem({ vars: { AUTH_TOKEN: "mem-token" } });
  });
  afterAll(() => sys?.stop());

  const post = (path: string, json: unknown) => sys.json(`/v1${path}`, { method: "POST", json });

  it("create → add 200 → each vector is its own nearest; 400 dimension mismatch, 404 missing, 409 duplicate", async () => {
    const created = await post("/vectors/index", {
      name: "smoke",
      dimension: DIM,
      distance: "cosine",
    });
    expect(created.status).toBe(201);
    const items = VECS.map((v, i) => ({
      id: `doc-${i}`,
      vector: v,
      metadata: { n: i, even: i % 2 === 0 },
    }));
    const added = await post("/vectors/index/smoke/add", { items });
    expect(added.status).toBe(200);
    expect(added.body).toEqual({ added: 200, count: 200 });
    for (const i of [0, 50, 123, 199]) {
      const { body } = await post("/vectors/index/smoke/search", { vector: VECS[i], k: 5 });
      expect(body.results[0].id).toBe(`doc-${i}`);
      expect(body.results[0].distance).toBeCloseTo(0, 5);
      expect(body.results[0].metadata).toEqual({ n: i, even: i % 2 === 0 });
    }
    const mismatch = await post("/vectors/index/smoke/add", {
      items: [{ id: "x", vector: [1, 2, 3] }],
    });
    expect(mismatch.status).toBe(400);
    expect(mismatch.body.error.message).toMatch(
      /items\[0\]\.vector: dimension mismatch: expected 64, got 3/,
    );
    const missing = await post("/vectors/index/absent/search", { vector: VECS[0] });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("not_found");
    const dup = await post("/vectors/index", { name: "smoke", dimension: DIM });
    expect(dup.status).toBe(409);
    const list = await sys.json("/v1/vectors/index");
    expect(list.body.indexes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: "smoke", dimension: DIM, distance: "cosine", count: 200 }),
      ]),
    );
  });

  it("rejects NaN/Infinity, a zero vector under cosine, bad k, unknown distance and a malformed filter with 400s naming them", async () => {
    const inf = await sys.json("/v1/vectors/index/smoke/add", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: `{"items":[{"id":"inf","vector":[-1e999${",0.5".repeat(DIM - 1)}]}]}`,
    });
    expect(inf.status).toBe(400);
    expect(inf.body.error.message).toMatch(/items\[0\]\.vector\[0\]: -Infinity is not finite/);
    const nan = await sys.json("/v1/vectors/index/smoke/search", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: `{"vector":[NaN]}`,
    });
    expect(nan.status).toBe(400);
    expect(nan.body.error.message).toMatch(/not valid JSON/);
    const zero = await post("/vectors/index/smoke/add", {
      items: [
        { id: "ok", vector: VECS[0] },
        { id: "zero", vector: new Array(DIM).fill(0) },
      ],
    });
    expect(zero.status).toBe(400);
    expect(zero.body.error.message).toMatch(/items\[1\]\.vector: zero vector/);
    for (const k of [0, 1001]) {
      const bad = await post("/vectors/index/smoke/search", { vector: VECS[0], k });
      expect(bad.status).toBe(400);
      expect(bad.body.error.message).toMatch(new RegExp(`k: must be between 1 and 1000, got ${k}`));
    }
    const dist = await post("/vectors/index", { name: "bad", dimension: 4, distance: "hamming" });
    expect(dist.status).toBe(400);
    expect(dist.body.error.message).toMatch(/distance: unknown "hamming"/);
    const filter = await post("/vectors/index/smoke/search", {
      vector: VECS[0],
      filter: { n: { $between: [1, 2] } },
    });
    expect(filter.status).toBe(400);
    expect(filter.body.error.message).toMatch(/filter: key "n": unknown operator "\$between"/);
    // Nothing of the rejected batches was written.
    expect((await sys.json("/v1/vectors/index/smoke")).body.count).toBe(200);
  });

  it("filters before top-k through the gateway", async () => {
    const { body } = await post("/vectors/index/smoke/search", {
      vector: VECS[1],
      k: 20,
      filter: { even: true, n: { $lt: 100 } },
    });
    expect(body.results).toHaveLength(20);
    for (const h of body.results) {
      expect(h.metadata.even).toBe(true);
      expect(h.metadata.n).toBeLessThan(100);
    }
  });

  it("survives kill and restart: the index, its count and its search results; the graph reloads from its snapshot", async () => {
    const before = await post("/vectors/index/smoke/search", { vector: VECS[7], k: 10 });
    // Wait (by condition, not by time) for the graph snapshot the alarm writes after writes settle.
    for (let i = 0; i < 100; i++) {
      const s = await sys.json("/v1/vectors/index/smoke/stats");
      if (s.body.shard_stats?.[0]?.snapshot_size === 200) break;
      await new Promise((res) => setTimeout(res, 200));
    }
    await sys.restart();
    const info = await sys.json("/v1/vectors/index/smoke");
    expect(info.status).toBe(200);
    expect(info.body.count).toBe(200);
    const after = await post("/vectors/index/smoke/search", { vector: VECS[7], k: 10 });
    expect(after.body.results).toEqual(before.body.results);
    const stats = await sys.json("/v1/vectors/index/smoke/stats");
    expect(stats.body.shard_stats[0].snapshot_size).toBe(200);
  });

  it("deletes ids and whole indexes durably", async () => {
    const del = await post("/vectors/index/smoke/delete", { ids: ["doc-7", "doc-8"] });
    expect(del.body).toEqual({ deleted: 2 });
    await post("/vectors/index", { name: "doomed", dimension: 2, distance: "euclidean" });
    await post("/vectors/index/doomed/add", { items: [{ id: "p", vector: [1, 2] }] });
    expect((await sys.fetch("/v1/vectors/index/doomed", { method: "DELETE" })).status).toBe(204);
    await sys.restart();
    const { body } = await post("/vectors/index/smoke/search", { vector: VECS[7], k: 5 });
    expect(body.results.map((h: { id: string }) => h.id)).not.toContain("doc-7");
    expect(body.results.map((h: { id: string }) => h.id)).not.toContain("doc-8");
    expect((await sys.json("/v1/vectors/index/smoke")).body.count).toBe(198);
    expect((await sys.json("/v1/vectors/index/doomed")).status).toBe(404);
  });

  it("embed → add → search: the same text finds its own document first; the cache counts hits across restarts", async () => {
    const docs = [
      "Parquet files store columns with statistics per row group",
      "The observer clusters failures by signature hash",
      "Vector indexes answer nearest neighbour queries",
      "Bearer tokens are compared in constant time",
    ];
    const emb = await post("/embed", { texts: docs });
    expect(emb.status).toBe(200);
    expect(emb.body.dimension).toBe(768);
    await post("/vectors/index", { name: "notes", dimension: 768, distance: "cosine" });
    await post("/vectors/index/notes/add", {
      items: docs.map((t, i) => ({
        id: `note-${i}`,
        vector: emb.body.vectors[i],
        metadata: { text: t },
      })),
    });
    const q = await post("/embed", { texts: [docs[2]] });
    expect(q.body.vectors[0]).toEqual(emb.body.vectors[2]);
    const { body } = await post("/vectors/index/notes/search", { vector: q.body.vectors[0], k: 4 });
    expect(body.results[0]).toMatchObject({ id: "note-2", metadata: { text: docs[2] } });
    const stats = (await sys.json("/v1/embed/stats")).body;
    expect(stats.hits).toBeGreaterThanOrEqual(1);
    await sys.restart();
    const again = await post("/embed", { texts: [docs[0], "a text never seen before"] });
    expect(again.body.cache_hits).toBe(1);
    expect(again.body.vectors[0]).toEqual(emb.body.vectors[0]);
    const after = (await sys.json("/v1/embed/stats")).body;
    expect(after.hits).toBe(stats.hits + 1);
    expect(after.misses).toBe(stats.misses + 1);
    const empty = await post("/embed", { texts: [""] });
    expect(empty.status).toBe(400);
    expect(empty.body.error.message).toMatch(/texts\[0\]: empty text/);
  });

  it("matrix: merges corpora, filters metadata, records a playbook that boosts after a restart", async () => {
    const answers = [
      "restart the ingest worker after a schema drift",
      "rotate the bearer token with a secondary token",
    ];
    const emb = await post("/embed", { texts: answers });
    await post("/vectors/index", { name: "runbooks", dimension: 768, distance: "cosine" });
    await post("/vectors/index/runbooks/add", {
      items: answers.map((t, i) => ({
        id: `rb-${i}`,
        vector: emb.body.vectors[i],
        metadata: { text: t, kind: "runbook" },
      })),
    });
    const query = "how to rotate a bearer token";
    const res = await post("/matrix/search", {
      query_text: query,
      corpora: ["notes", "runbooks"],
      k: 6,
    });
    expect(res.status).toBe(200);
    expect(res.body.per_corpus).toEqual({ notes: 4, runbooks: 2 });
    const distances = res.body.results.map((h: { distance: number }) => h.distance);
    expect(distances).toEqual([...distances].sort((a, b) => a - b));
    expect(res.body.results[0]).toMatchObject({ id: "rb-1", corpus: "runbooks" });
    const filtered = await post("/matrix/search", {
      query_text: query,
      corpora: ["notes", "runbooks"],
      k: 6,
      metadata_filter: { kind: "runbook" },
    });
    expect(filtered.body.results.map((h: { id: string }) => h.id).sort()).toEqual(["rb-0", "rb-1"]);
    expect(filtered.body.metadata_filter_dropped).toBe(4);

    const rb0 = res.body.results.find((h: { id: string }) => h.id === "rb-0");
    const rec = await post("/matrix/playbooks/record", {
      query_text: query,
      answer_id: "rb-0",
      answer_corpus: "runbooks",
      score: 1,
    });
    expect(rec.status).toBe(201);
    await sys.restart();
    const boosted = await post("/matrix/search", {
      query_text: query,
      corpora: ["notes", "runbooks"],
      k: 6,
      use_playbook: true,
    });
    const b0 = boosted.body.results.find((h: { id: string }) => h.id === "rb-0");
    expect(b0.distance).toBeCloseTo(rb0.distance / 2, 6);
    const corpora = await sys.json("/v1/matrix/corpora");
    expect(corpora.body.corpora.map((c: { name: string }) => c.name)).toEqual(
      expect.arrayContaining(["notes", "runbooks", "playbook_memory", "smoke"]),
    );
    const fail = await post("/matrix/search", {
      query_text: query,
      corpora: ["runbooks", "ghost"],
    });
    expect(fail.status).toBe(404); // an unknown corpus is the caller's mistake (#21), not an upstream failure
    expect(fail.body.error.message).toMatch(/corpora\[1\]: corpus "ghost" does not exist/);
    const down = await post("/matrix/downgrade", {
      mode: "codereview_lakehouse",
      model: "llama3.2:3b",
    });
    expect(down.body).toEqual({ mode: "codereview_lakehouse" });
  });
});
