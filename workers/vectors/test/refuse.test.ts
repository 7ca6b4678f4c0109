// Issue #21 on the vectors Worker: a vector that is zero once stored as 32-bit floats is refused
// under cosine (it has no direction) on add and on search, on the local engine and on the
// Vectorize path; a search racing an index delete answers 200 or 404, never a 5xx.
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

async function call(
  path: string,
  init: { method?: string; json?: unknown } = {},
  bindings: object = env,
): Promise<{ status: number; body: Json }> {
  const req = new Request(`http://x/vectors${path}`, {
    method: init.method ?? (init.json !== undefined ? "POST" : "GET"),
    headers: { "content-type": "application/json" },
    body: init.json !== undefined ? JSON.stringify(init.json) : undefined,
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
      expect(
        (await call("/index", { json: { name, dimension: 3, distance: "cosine" } }, bindings))
          .status,
      ).toBe(201);
      expect(
        (
          await call(
            `/index/${name}/add`,
            { json: { items: [{ id: "a", vector: [1, 0, 0] }] } },
            bindings,
          )
        ).status,
      ).toBe(200);
      for (const zero of FLOAT32_ZEROS) {
        const add = await call(
          `/index/${name}/add`,
          {
            json: {
              items: [
                { id: "b", vector: [0, 1, 0] },
                { id: "c", vector: zero },
              ],
            },
          },
          bindings,
        );
        expect(add.status, JSON.stringify(add.body)).toBe(400);
        expect(add.body.error.code).toBe("bad_request");
        expect(add.body.error.message).toMatch(/^items\[1\]\.vector: zero vector .*cosine/);
        // an upsert of an existing id to a float32 zero is refused too
        const upsert = await call(
          `/index/${name}/add`,
          { json: { items: [{ id: "a", vector: zero }] } },
          bindings,
        );
        expect(upsert.status).toBe(400);
        expect(upsert.body.error.message).toMatch(/^items\[0\]\.vector: zero vector/);
        const search = await call(
          `/index/${name}/search`,
          { json: { vector: zero, k: 3 } },
          bindings,
        );
        expect(search.status, JSON.stringify(search.body)).toBe(400);
        expect(search.body.error.message).toMatch(/^vector: zero vector .*cosine/);
      }
      const info = await call(`/index/${name}`, {}, bindings);
      expect(info.body.count).toBe(1);
      const hits = await call(
        `/index/${name}/search`,
        { json: { vector: [1, 0, 0], k: 3 } },
        bindings,
      );
      expect(hits.body.results.map((h: Json) => h.id)).toEqual(["a"]);
      expect(hits.body.results[0].distance).toBeCloseTo(0, 6);
      // the smallest normal float32 has a direction: accepted; euclidean takes zero vectors
      expect(
        (
          await call(
            `/index/${name}/add`,
            { json: { items: [{ id: "small", vector: [1.2e-38, 0, 0] }] } },
            bindings,
          )
        ).status,
      ).toBe(200);
      const eu = `tiny_eu_${engine}`;
      expect(
        (
          await call(
            "/index",
            { json: { name: eu, dimension: 3, distance: "euclidean" } },
            bindings,
          )
        ).status,
      ).toBe(201);
      expect(
        (
          await call(
            `/index/${eu}/add`,
            { json: { items: [{ id: "z", vector: [1e-46, 0, 0] }] } },
            bindings,
          )
        ).status,
      ).toBe(200);
    });
  }
});

describe("a search racing an index delete (#21)", () => {
  it("answers 200 or 404, never a 5xx: 20 rounds of create, add, 30 concurrent searches and a delete", async () => {
    const statuses = new Map<number, number>();
    const fives: string[] = [];
    for (let round = 0; round < 20; round++) {
      const name = `race_${round}`;
      expect(
        (await call("/index", { json: { name, dimension: 4, distance: "cosine", shards: 2 } }))
          .status,
      ).toBe(201);
      const items = Array.from({ length: 20 }, (_, i) => ({
        id: `v${i}`,
        vector: [1 + i, i % 3, (i * 7) % 5, 1],
      }));
      expect((await call(`/index/${name}/add`, { json: { items } })).status).toBe(200);
      const searches = Array.from({ length: 30 }, (_, i) =>
        call(`/index/${name}/search`, { json: { vector: [1, i % 4, 0, 1], k: 5 } }),
      );
      // the delete starts among the searches, not after them
      const del = call(`/index/${name}`, { method: "DELETE" });
      const more = Array.from({ length: 10 }, () =>
        call(`/index/${name}/add`, { json: { items: items.slice(0, 2) } }),
      );
      for (const r of await Promise.all([...searches, ...more])) {
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status !== 200 && r.status !== 404)
          fives.push(`${round}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
        if (r.status === 404) expect(r.body.error.message).toContain(JSON.stringify(name));
      }
      expect((await del).status).toBe(204);
      expect((await call(`/index/${name}`)).status).toBe(404);
    }
    expect(fives).toEqual([]);
    expect(statuses.get(200) ?? 0).toBeGreaterThan(0);
  });
});
