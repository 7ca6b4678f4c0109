// The vectors Worker inside workerd with its real Durable Objects: create/list/get/delete,
// upsert with whole-batch validation, search (self nearest, metric semantics, filters applied
// before top-k), sharding, bad input, and the vectorize engine against the Vectorize fake.
import { env, exports } from "cloudflare:workers";
import type { z } from "@hono/zod-openapi";
import { describe, expect, it } from "vitest";
import { describeIssues } from "../../../shared/field-errors";
import { seededRandom as seeded } from "../../../shared/random";
import { AddBody, CreateBody, DeleteBody, NameParams, SearchBody } from "../src/openapi";

type Json = any;

function randomVectors(n: number, dim: number, seed = 1): number[][] {
  const r = seeded(seed);
  return Array.from({ length: n }, () => Array.from({ length: dim }, () => r() * 2 - 1));
}

async function call(
  path: string,
  init: { method?: string; json?: unknown; raw?: string } = {},
  bindings: object = env,
): Promise<{ status: number; body: Json }> {
  const req = new Request(`http://x/vectors${path}`, {
    method: init.method ?? (init.json !== undefined || init.raw !== undefined ? "POST" : "GET"),
    headers: { "content-type": "application/json" },
    body: init.raw ?? (init.json !== undefined ? JSON.stringify(init.json) : undefined),
  });
  const res =
    bindings === env
      ? await exports.default.fetch(req)
      : await (await import("../src/index")).default.fetch(
          req,
          bindings as Env,
          {} as ExecutionContext,
        );
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

describe("vector indexes on the local engine", () => {
  const dim = 16;
  const vecs = randomVectors(200, dim, 7);

  it("creates, lists, and refuses a duplicate with 409", async () => {
    const created = await call("/index", {
      json: { name: "docs", dimension: dim, distance: "cosine" },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: "docs",
      dimension: dim,
      distance: "cosine",
      count: 0,
      engine: "local",
    });
    const dup = await call("/index", {
      json: { name: "docs", dimension: dim, distance: "cosine" },
    });
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe("conflict");
    expect(dup.body.error.message).toMatch(/docs/);
    const list = await call("/index");
    expect(list.body.indexes.map((i: Json) => i.name)).toContain("docs");
  });

  it("adds 200 vectors; each stored vector is its own nearest at distance ≈ 0, with metadata", async () => {
    const items = vecs.map((v, i) => ({
      id: `v${i}`,
      vector: v,
      metadata: { i, group: i % 4 === 0 ? "a" : "b" },
    }));
    const added = await call("/index/docs/add", { json: { items } });
    expect(added.status).toBe(200);
    expect(added.body).toEqual({ added: 200, count: 200 });
    for (const i of [0, 17, 99, 150, 199]) {
      const { body } = await call("/index/docs/search", { json: { vector: vecs[i], k: 3 } });
      expect(body.results).toHaveLength(3);
      expect(body.results[0].id).toBe(`v${i}`);
      expect(body.results[0].distance).toBeCloseTo(0, 5);
      expect(body.results[0].metadata).toEqual({ i, group: i % 4 === 0 ? "a" : "b" });
      expect(body.results[1].distance).toBeGreaterThanOrEqual(body.results[0].distance);
    }
    expect((await call("/index/docs")).body.count).toBe(200);
  });

  it("applies the filter before top-k: k hits when k match, only matching ones", async () => {
    const { body } = await call("/index/docs/search", {
      json: { vector: vecs[1], k: 10, filter: { group: "a" } },
    });
    expect(body.results).toHaveLength(10);
    for (const h of body.results) expect(h.metadata.group).toBe("a");
    const range = await call("/index/docs/search", {
      json: { vector: vecs[1], k: 100, filter: { i: { $gte: 10, $lt: 20 }, group: { $ne: "a" } } },
    });
    const got = range.body.results
      .map((h: Json) => h.metadata.i)
      .sort((a: number, b: number) => a - b);
    expect(got).toEqual([10, 11, 13, 14, 15, 17, 18, 19]);
    const inList = await call("/index/docs/search", {
      json: { vector: vecs[1], k: 5, filter: { i: { $in: [3, 5, 7] } } },
    });
    expect(inList.body.results.map((h: Json) => h.id).sort()).toEqual(["v3", "v5", "v7"]);
    const nin = await call("/index/docs/search", {
      json: { vector: vecs[1], k: 200, filter: { i: { $nin: [1, 2] } } },
    });
    expect(nin.body.results).toHaveLength(198);
  });

  it("upserts an existing id and deletes by ids", async () => {
    const moved = vecs[5]!.map((x) => -x);
    const up = await call("/index/docs/add", {
      json: { items: [{ id: "v0", vector: moved, metadata: { moved: true } }] },
    });
    expect(up.body).toEqual({ added: 1, count: 200 });
    const { body } = await call("/index/docs/search", { json: { vector: moved, k: 1 } });
    expect(body.results[0]).toMatchObject({ id: "v0", metadata: { moved: true } });
    const del = await call("/index/docs/delete", { json: { ids: ["v0", "v1", "nope"] } });
    expect(del.body).toEqual({ deleted: 2 });
    const after = await call("/index/docs/search", { json: { vector: vecs[1], k: 200 } });
    expect(after.body.results).toHaveLength(198);
    expect(after.body.results.map((h: Json) => h.id)).not.toContain("v1");
    expect((await call("/index/docs")).body.count).toBe(198);
  });

  it("rejects bad input with 400 naming the problem, and a missing index with 404", async () => {
    const good = vecs[0]!;
    const cases: [string, unknown, RegExp][] = [
      [
        "/index/docs/add",
        {
          items: [
            { id: "a", vector: good },
            { id: "b", vector: good.slice(1) },
          ],
        },
        /items\[1\]\.vector: dimension mismatch: expected 16, got 15/,
      ],
      [
        "/index/docs/add",
        { items: [{ id: "z", vector: new Array(dim).fill(0) }] },
        /items\[0\]\.vector: zero vector/,
      ],
      [
        "/index/docs/add",
        { items: [{ id: "s", vector: [...good.slice(1), "x"] }] },
        /items\[0\]\.vector\[15\]: expected a number/,
      ],
      ["/index/docs/search", { vector: good, k: 0 }, /k: must be between 1 and 1000, got 0/],
      ["/index/docs/search", { vector: good, k: 1001 }, /k: must be between 1 and 1000, got 1001/],
      [
        "/index/docs/search",
        { vector: good, filter: { x: { $regex: "a" } } },
        /filter: key "x": unknown operator "\$regex"/,
      ],
      [
        "/index/docs/search",
        { vector: good, filter: { x: { $in: "a" } } },
        /filter: key "x": \$in needs a non-empty array/,
      ],
      ["/index/docs/search", { vector: good, filter: ["x"] }, /filter: expected an object/],
      [
        "/index",
        { name: "weird", dimension: 4, distance: "manhattan" },
        /distance: unknown "manhattan"/,
      ],
      [
        "/index",
        { name: "bad name!", dimension: 4 },
        /name: "bad name!" is not a valid index name/,
      ],
      ["/index", { name: "nodim" }, /dimension: expected an integer/],
    ];
    for (const [path, json, message] of cases) {
      const r = await call(path, { json });
      expect(r.status, JSON.stringify(json).slice(0, 80)).toBe(400);
      expect(r.body.error.code).toBe("bad_request");
      expect(r.body.error.message).toMatch(message);
    }
    // Infinity arrives through JSON as an overflowing literal; NaN is not JSON at all.
    const inf = await call("/index/docs/add", {
      raw: `{"items":[{"id":"i","vector":[1e999${",0".repeat(dim - 1)}]}]}`,
    });
    expect(inf.status).toBe(400);
    expect(inf.body.error.message).toMatch(/items\[0\]\.vector\[0\]: Infinity is not finite/);
    const nan = await call("/index/docs/add", {
      raw: `{"items":[{"id":"i","vector":[NaN${",0".repeat(dim - 1)}]}]}`,
    });
    expect(nan.status).toBe(400);
    expect(nan.body.error.message).toMatch(/not valid JSON/);
    // The rejected batches wrote nothing.
    expect((await call("/index/docs")).body.count).toBe(198);
    const missing = await call("/index/nope/search", { json: { vector: good } });
    expect(missing.status).toBe(404);
    expect(missing.body.error.message).toMatch(/"nope" does not exist/);
  });

  it("keeps metric semantics: euclidean distance and 1 − dot", async () => {
    await call("/index", { json: { name: "euc", dimension: 2, distance: "euclidean" } });
    await call("/index/euc/add", {
      json: {
        items: [
          { id: "o", vector: [0, 0] },
          { id: "p", vector: [3, 4] },
        ],
      },
    });
    const e = await call("/index/euc/search", { json: { vector: [0, 0], k: 2 } });
    expect(e.body.results.map((h: Json) => [h.id, h.distance])).toEqual([
      ["o", 0],
      ["p", 5],
    ]);
    await call("/index", { json: { name: "dotty", dimension: 2, distance: "dot" } });
    await call("/index/dotty/add", {
      json: {
        items: [
          { id: "small", vector: [1, 0] },
          { id: "big", vector: [3, 0] },
        ],
      },
    });
    const d = await call("/index/dotty/search", { json: { vector: [1, 0], k: 2 } });
    expect(d.body.results.map((h: Json) => [h.id, h.distance])).toEqual([
      ["big", -2],
      ["small", 0],
    ]);
  });

  it("the graph and its wasm kernel (float32 and int8) agree with exact arithmetic for every metric, at a dimension that is no multiple of 16", async () => {
    const D = 37; // 2 SIMD steps of 16 plus a scalar tail of 5
    const data = randomVectors(1500, D, 11);
    const queries = randomVectors(20, D, 12);
    const exact: Record<string, (a: number[], b: number[]) => number> = {
      cosine: (a, b) => {
        let ab = 0,
          aa = 0,
          bb = 0;
        for (let i = 0; i < D; i++) {
          ab += a[i]! * b[i]!;
          aa += a[i]! * a[i]!;
          bb += b[i]! * b[i]!;
        }
        return 1 - ab / Math.sqrt(aa * bb);
      },
      euclidean: (a, b) => Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]!) ** 2, 0)),
      dot: (a, b) => 1 - a.reduce((s, x, i) => s + x * b[i]!, 0),
    };
    for (const quantization of ["none", "int8"])
      for (const metric of ["cosine", "euclidean", "dot"]) {
        const name = `kernel-${metric}-${quantization}`;
        const created = await call("/index", {
          json: { name, dimension: D, distance: metric, quantization },
        });
        expect(created.status).toBe(201);
        expect(created.body.quantization).toBe(quantization);
        for (let i = 0; i < data.length; i += 500) {
          const items = data.slice(i, i + 500).map((vector, j) => ({ id: `v${i + j}`, vector }));
          expect((await call(`/index/${name}/add`, { json: { items } })).status).toBe(200);
        }
        let hits = 0;
        for (const q of queries) {
          const truth = data
            .map((v, i) => ({ id: `v${i}`, d: exact[metric]!(q, v) }))
            .sort((a, b) => a.d - b.d)
            .slice(0, 10);
          const got = await call(`/index/${name}/search`, {
            json: { vector: q, k: 10, ef_search: 200 },
          });
          expect(got.status).toBe(200);
          const want = new Map(truth.map((t) => [t.id, t.d]));
          for (const h of got.body.results) {
            // Every distance returned is the exact one for that vector (f32 kernel, so ≈ 1e-5;
            // int8 candidates are reranked with the stored float32 vectors).
            expect(h.distance).toBeCloseTo(exact[metric]!(q, data[Number(h.id.slice(1))]!), 4);
            if (want.has(h.id)) hits++;
          }
        }
        expect(
          hits / (queries.length * 10),
          `${metric}/${quantization} recall@10`,
        ).toBeGreaterThanOrEqual(0.9);
      }
  });

  it("spreads a sharded index over several objects and merges their answers", async () => {
    const r = await call("/index", {
      json: { name: "sharded", dimension: dim, distance: "cosine", shards: 4 },
    });
    expect(r.body.shards).toBe(4);
    await call("/index/sharded/add", {
      json: { items: vecs.slice(0, 100).map((v, i) => ({ id: `s${i}`, vector: v })) },
    });
    const stats = await call("/index/sharded/stats");
    const counts = stats.body.shard_stats.map((s: Json) => s.count);
    expect(counts.reduce((a: number, b: number) => a + b, 0)).toBe(100);
    expect(counts.filter((n: number) => n > 0).length).toBeGreaterThan(1);
    for (const i of [3, 42, 77]) {
      const { body } = await call("/index/sharded/search", { json: { vector: vecs[i], k: 5 } });
      expect(body.results[0].id).toBe(`s${i}`);
      expect(body.results).toHaveLength(5);
    }
  });

  it("deletes an index: 204, then 404, and a re-created one starts empty", async () => {
    expect((await call("/index/sharded", { method: "DELETE" })).status).toBe(204);
    expect((await call("/index/sharded")).status).toBe(404);
    await call("/index", { json: { name: "sharded", dimension: dim, shards: 4 } });
    const { body } = await call("/index/sharded/search", { json: { vector: vecs[3], k: 5 } });
    expect(body.results).toEqual([]);
  });
});

describe("the OpenAPI document", () => {
  it("lists every vectors route", async () => {
    const { body } = await call("/openapi.json");
    expect(Object.keys(body.paths)).toEqual(
      expect.arrayContaining([
        "/vectors/index",
        "/vectors/index/{name}",
        "/vectors/index/{name}/add",
        "/vectors/index/{name}/search",
        "/vectors/index/{name}/delete",
      ]),
    );
    expect(Object.keys(body.paths["/vectors/index/{name}"])).toEqual(
      expect.arrayContaining(["get", "delete"]),
    );
  });

  it("lists every vectors route with its method and nothing else, with the schemas that validate them", async () => {
    const { body } = await call("/openapi.json");
    const listed = Object.entries(body.paths as Record<string, object>).flatMap(([path, item]) =>
      Object.keys(item).map((m) => `${m} ${path}`),
    );
    expect(listed.sort()).toEqual(
      [
        "post /vectors/index",
        "get /vectors/index",
        "get /vectors/index/{name}",
        "delete /vectors/index/{name}",
        "post /vectors/index/{name}/add",
        "post /vectors/index/{name}/search",
        "post /vectors/index/{name}/delete",
        "get /vectors/index/{name}/stats",
      ].sort(),
    );
    const create = body.paths["/vectors/index"].post.requestBody.content["application/json"].schema;
    expect(create.required).toEqual(["name", "dimension"]);
    expect(create.properties.quantization.enum).toEqual(expect.arrayContaining(["none", "int8"]));
    expect(create.properties.name.pattern).toBeDefined();
    const param = (body.paths["/vectors/index/{name}/add"].post.parameters as Json[]).find(
      (p) => p.in === "path",
    );
    expect(param).toMatchObject({ name: "name", required: true });
    const item =
      body.paths["/vectors/index/{name}/add"].post.requestBody.content["application/json"].schema
        .properties.items;
    expect(item).toMatchObject({ type: "array", minItems: 1 });
  });

  it("validates with the schemas it documents: a rejected request is a 400 worded by describeIssues", async () => {
    const cases: [z.ZodType, string, unknown, string][] = [
      [
        CreateBody,
        "/index",
        { name: "fine", dimension: 4, quantization: "int4" },
        'quantization: unknown "int4" (expected "none" or "int8")',
      ],
      [
        CreateBody,
        "/index",
        { name: "fine", dimension: 4, m: 1 },
        "m: must be between 2 and 128, got 1",
      ],
      [
        AddBody,
        "/index/docs/add",
        {
          items: [
            { id: "a", vector: [1, 2] },
            { id: "", vector: [1, 2] },
          ],
        },
        'items[1].id: expected a non-empty string of at most 512 characters, got ""',
      ],
      [
        AddBody,
        "/index/docs/add",
        { items: [{ id: "a", vector: [1, 1e39] }] },
        "items[0].vector[1]: 1e+39 overflows a 32-bit float",
      ],
      [
        SearchBody,
        "/index/docs/search",
        { vector: [1], filter: { $and: 1 } },
        'filter: invalid key "$and" (operators go inside a key\'s object)',
      ],
      [DeleteBody, "/index/docs/delete", { ids: ["a", 2] }, "ids[1]: expected a string, got 2"],
    ];
    for (const [schema, path, json, message] of cases) {
      const parsed = schema.safeParse(json);
      expect(parsed.success, path).toBe(false);
      expect(describeIssues(parsed.error!.issues)).toBe(message);
      const r = await call(path, { json });
      expect(r.status, JSON.stringify(json)).toBe(400);
      expect(r.body.error).toEqual({ code: "bad_request", message });
    }
    // The path parameter is validated by the route's schema too.
    const badName = await call("/index/bad%20name");
    expect(badName.status).toBe(400);
    expect(badName.body.error.message).toBe(
      describeIssues(NameParams.safeParse({ name: "bad name" }).error!.issues),
    );
    expect(badName.body.error.message).toMatch(/^name: "bad name" is not a valid index name/);
    // A body without a content type is still read as JSON (no 415).
    const untyped = await exports.default.fetch("http://x/vectors/index/docs/search", {
      method: "POST",
      body: JSON.stringify({ vector: [1], k: 1 }),
    });
    expect(untyped.status).toBe(400);
    expect(((await untyped.json()) as Json).error.message).toBe(
      "vector: dimension mismatch: expected 16, got 1",
    );
  });
});

describe("the memory bound of a shard", () => {
  it("refuses an add past the bound with 507, compacts tombstones, and still finds every live vector", async () => {
    const small = { ...env, LH_VECTORD_SHARD_MEMORY_MB: "1" }; // 512-d float32: 1 MiB / (2048 + 132 + 256) B = 430 vectors
    const dim = 512;
    const vs = randomVectors(500, dim, 3);
    expect(
      (
        await call(
          "/index",
          { json: { name: "tiny", dimension: dim, quantization: "none" } },
          small,
        )
      ).status,
    ).toBe(201);
    // int8 codes take 16 + 512 B instead of 2048: the same memory holds 1 MiB / (528 + 132 + 256) B = 1144.
    expect(
      (await call("/index", { json: { name: "tiny8", dimension: dim } }, small)).body.quantization,
    ).toBe("int8");
    expect((await call("/index/tiny8/stats", {}, small)).body.max_vectors_per_shard).toBe(1144);
    const first = await call(
      "/index/tiny/add",
      { json: { items: vs.slice(0, 400).map((v, i) => ({ id: `t${i}`, vector: v })) } },
      small,
    );
    expect(first.body).toEqual({ added: 400, count: 400 });
    const over = await call(
      "/index/tiny/add",
      { json: { items: vs.slice(400).map((v, i) => ({ id: `t${400 + i}`, vector: v })) } },
      small,
    );
    expect(over.status).toBe(507);
    expect(over.body.error.code).toBe("insufficient_storage");
    expect(over.body.error.message).toMatch(/memory bound of 430 .*more shards/);
    // Deleting 300 leaves tombstones past 30%: the shard compacts, and the bound has room again.
    const del = await call(
      "/index/tiny/delete",
      { json: { ids: Array.from({ length: 300 }, (_, i) => `t${i}`) } },
      small,
    );
    expect(del.body).toEqual({ deleted: 300 });
    const stats = await call("/index/tiny/stats", {}, small);
    expect(stats.body.shard_stats[0]).toMatchObject({ count: 100, deleted: 0 });
    const again = await call(
      "/index/tiny/add",
      { json: { items: vs.slice(400).map((v, i) => ({ id: `t${400 + i}`, vector: v })) } },
      small,
    );
    expect(again.body).toEqual({ added: 100, count: 200 });
    for (const i of [300, 350, 399, 450, 499]) {
      const { body } = await call("/index/tiny/search", { json: { vector: vs[i], k: 1 } }, small);
      expect(body.results[0].id).toBe(`t${i}`);
    }
    const gone = await call("/index/tiny/search", { json: { vector: vs[5], k: 200 } }, small);
    expect(gone.body.results.map((h: Json) => h.id)).not.toContain("t5");
  });
});

describe("vector indexes on the vectorize engine (Vectorize fake through a service binding)", () => {
  const vz = { ...env, LH_VECTORD_ENGINE: "vectorize" };

  it("creates a namespace-backed index, upserts, searches with a filter, counts and deletes", async () => {
    const created = await call(
      "/index",
      { json: { name: "vz", dimension: 3, distance: "cosine" } },
      vz,
    );
    expect(created.status).toBe(201);
    expect(created.body.engine).toBe("vectorize");
    const items = [
      { id: "a", vector: [1, 0, 0], metadata: { kind: "x", n: 1 } },
      { id: "b", vector: [0.9, 0.1, 0], metadata: { kind: "y", n: 2 } },
      { id: "c", vector: [0, 1, 0], metadata: { kind: "x", n: 3 } },
    ];
    expect((await call("/index/vz/add", { json: { items } }, vz)).body).toEqual({
      added: 3,
      count: 3,
    });
    expect((await call("/index/vz/add", { json: { items: [items[0]] } }, vz)).body).toEqual({
      added: 1,
      count: 3,
    });
    const s = await call("/index/vz/search", { json: { vector: [1, 0, 0], k: 3 } }, vz);
    expect(s.body.results.map((h: Json) => h.id)).toEqual(["a", "b", "c"]);
    expect(s.body.results[0].distance).toBeCloseTo(0, 6);
    expect(s.body.results[0].metadata).toEqual({ kind: "x", n: 1 });
    const f = await call(
      "/index/vz/search",
      { json: { vector: [1, 0, 0], k: 3, filter: { kind: "x", n: { $gt: 1 } } } },
      vz,
    );
    expect(f.body.results.map((h: Json) => h.id)).toEqual(["c"]);
    const big = await call("/index/vz/search", { json: { vector: [1, 0, 0], k: 51 } }, vz);
    expect(big.status).toBe(400);
    expect(big.body.error.message).toMatch(/k: must be between 1 and 50/);
    expect((await call("/index/vz/delete", { json: { ids: ["b", "zz"] } }, vz)).body).toEqual({
      deleted: 1,
    });
    expect((await call("/index/vz", {}, vz)).body.count).toBe(2);
    expect((await call("/index/vz", { method: "DELETE" }, vz)).status).toBe(204);
    // The namespace is empty again: a re-created index finds nothing.
    await call("/index", { json: { name: "vz", dimension: 3, distance: "cosine" } }, vz);
    expect(
      (await call("/index/vz/search", { json: { vector: [1, 0, 0], k: 3 } }, vz)).body.results,
    ).toEqual([]);
  });

  it("without a Vectorize binding (dev binds none; only tests bind the fake) creating an index is a 400 that says what to do", async () => {
    const unbound = await call(
      "/index",
      { json: { name: "vz2", dimension: 3, distance: "dot" } },
      { ...vz, VECTORIZE_ANY_DOT: undefined },
    );
    expect(unbound.status).toBe(400);
    expect(unbound.body.error.message).toMatch(
      /no Vectorize index is bound for 3-d dot: run `wrangler vectorize create lakehouse-3-dot/,
    );
    expect(unbound.body.error.message).toMatch(/engine = "local"/);
  });
});
