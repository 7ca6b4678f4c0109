// Issue #21 on the vectors Worker: a vector that is zero once stored as 32-bit floats is refused
// under cosine (it has no direction) on add and on search, on the local engine and on the
// Vectorize path; a search racing an index delete answers 200 or 404, never a 5xx.
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

async function call(path: string, init: { method?: string; json?: unknown } = {}, bindings: object = env): Promise<{ status: number; body: Json }> {
  const req = new Request(`http://x/vectors${path}`, {
    method: init.method ?? (init.json !== undefined ? "POST" : "GET"),
    headers: { "content-type": "application/json" },
    body: init.json !== undefined ? JSON.stringify(init.json) : undefined,
  });
  const res = bindings === env ? await exports.default.fetch(req) : await (await import("../src/index")).default.fetch(req, bindings as Env, {} as ExecutionContext);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** Vectors whose every component is 0 as a 32-bit float, though not as a 64-bit one. */
const FLOAT32_ZEROS = [
  [1e-46, 0, 0],
  [0, -1e-50, 1e-300],
];

describe("a vector that is zero in float32 is refused under cosine (#21)", () => {
  const engines: [string, object][] = [
    ["local", env],
    ["vectorize", { ...env, LH_VECTORD_ENGINE: "vectorize" }],
  ];
  for (const [engine, bindings] of engines) {
    it(`${engine}: add, upsert and search name the item and field; nothing is written`, async () => {
      const name = `tiny_${engine}`;
      expect((await call("/index", { json: { name, dimension: 3, distance: "cosine" } }, bindings)).status).toBe(201);
      expect((await call(`/index/${name}/add`, { json: { items: [{ id: "a", vector: [1, 0, 0] }] } }, bindings)).status).toBe(200);
      for (const zero of FLOAT32_ZEROS) {
        const add = await call(`/index/${name}/add`, { json: { items: [{ id: "b", vector: [0, 1, 0] }, { id: "c", vector: zero }] } }, bindings);
        expect(add.status, JSON.stringify(add.body)).toBe(400);
        expect(add.body.error.code).toBe("bad_request");
        expect(add.body.error.message).toMatch(/^items\[1\]\.vector: zero vector .*cosine/);
        // an upsert of an existing id to a float32 zero is refused too
        const upsert = await call(`/index/${name}/add`, { json: { items: [{ id: "a", vector: zero }] } }, bindings);
        expect(upsert.status).toBe(400);
        expect(upsert.body.error.message).toMatch(/^items\[0\]\.vector: zero vector/);
        const search = await call(`/index/${name}/search`, { json: { vector: zero, k: 3 } }, bindings);
        expect(search.status, JSON.stringify(search.body)).toBe(400);
        expect(search.body.error.message).toMatch(/^vector: zero vector .*cosine/);
      }
      const info = await call(`/index/${name}`, {}, bindings);
      expect(info.body.count).toBe(1);
      const hits = await call(`/index/${name}/search`, { json: { vector: [1, 0, 0], k: 3 } }, bindings);
      expect(hits.body.results.map((h: Json) => h.id)).toEqual(["a"]);
      expect(hits.body.results[0].distance).toBeCloseTo(0, 6);
      // the smallest normal float32 has a direction: accepted; euclidean takes zero vectors
      expect((await call(`/index/${name}/add`, { json: { items: [{ id: "small", vector: [1.2e-38, 0, 0] }] } }, bindings)).status).toBe(200);
      const eu = `tiny_eu_${engine}`;
      expect((await call("/index", { json: { name: eu, dimension: 3, distance: "euclidean" } }, bindings)).status).toBe(201);
      expect((await call(`/index/${eu}/add`, { json: { items: [{ id: "z", vector: [1e-46, 0, 0] }] } }, bindings)).status).toBe(200);
    });
  }
});
