// Issue #12, "trust nothing", through the gateway as a user drives it: ~50 observer events of
// ~3 MiB each (under the 4 MiB cap) — the observer keeps answering, each op is stored within
// its field caps; after a restart /v1/health is ok and /v1/observer/stats answers with the
// ring within its byte bound. Large vector metadata is a 400; deep JSON is a 400 on pathway,
// vectors and observer.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type System, startSystem } from "./harness";

const RING_MAX_BYTES = 16 * 1024 * 1024;

describe("bounded input through the gateway", () => {
  let sys: System;
  beforeAll(async () => {
    sys = await startSystem({ vars: { AUTH_TOKEN: "bounded-token" } });
  });
  afterAll(() => sys?.stop());

  const post = (path: string, json: unknown) => sys.json(path, { method: "POST", json });
  const postRaw = (path: string, body: string) =>
    sys.json(path, { method: "POST", body, headers: { "content-type": "application/json" } });

  it("50 events of ~3 MiB: every one accepted, stored capped; the observer keeps answering", async () => {
    const big = "y".repeat(1024 * 1024);
    for (let i = 0; i < 50; i++) {
      const r = await post("/v1/observer/event", {
        endpoint: `/bulk/${i}`,
        success: i % 2 === 0,
        input_summary: big,
        output_summary: big,
        error: `${big.slice(0, 1000 * 1000)}${i}`,
      });
      expect(r.status, `event ${i}`).toBe(200);
    }
    const stats = await sys.json("/v1/observer/stats");
    expect(stats.status).toBe(200);
    expect(stats.body.total).toBeGreaterThanOrEqual(50);
    expect(stats.body.ring_bytes).toBeLessThanOrEqual(stats.body.ring_max_bytes);
    const ops = await sys.json("/v1/observer/ops?limit=1000");
    expect(ops.status).toBe(200);
    for (const op of ops.body.ops)
      expect(Buffer.byteLength(op.input_summary)).toBeLessThanOrEqual(4096);
    expect(ops.body.ops.at(-1).input_summary).toMatch(/…\[truncated \d+ bytes\]$/);
  }, 600_000);

  it("after a restart /v1/health is ok and the observer's ring is within its byte bound", async () => {
    await sys.restart();
    const health = await sys.json("/v1/health");
    expect(health.status).toBe(200);
    const stats = await sys.json("/v1/observer/stats");
    expect(stats.status).toBe(200);
    expect(stats.body.total).toBeGreaterThanOrEqual(50);
    expect(stats.body.ring_max_bytes).toBe(RING_MAX_BYTES);
    expect(stats.body.ring_bytes).toBeGreaterThan(0);
    expect(stats.body.ring_bytes).toBeLessThanOrEqual(RING_MAX_BYTES);
    expect((await sys.json("/v1/observer/health")).body.status).toBe("ok");
  }, 600_000);

  it("vector metadata over [vectord].max_metadata_bytes is a 400 naming the item and the cap", async () => {
    expect((await post("/v1/vectors/index", { name: "bounded_meta", dimension: 3 })).status).toBe(
      201,
    );
    const r = await post("/v1/vectors/index/bounded_meta/add", {
      items: [
        { id: "ok", vector: [1, 0, 0], metadata: { a: 1 } },
        { id: "big", vector: [0, 1, 0], metadata: { blob: "z".repeat(100_000) } },
      ],
    });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(/items\[1\]\.metadata: .*\[vectord\]\.max_metadata_bytes/);
    expect((await sys.json("/v1/vectors/index/bounded_meta")).body.count).toBe(0);
  });

  it("deeply nested JSON is a 400 naming the depth limit on pathway, vectors and observer", async () => {
    const deep = (n: number) => `${"[".repeat(n)}1${"]".repeat(n)}`;
    const cases: [string, string][] = [
      ["/v1/pathway/add", `{"uid":"deep","content":${deep(1000)}}`],
      [
        "/v1/vectors/index/bounded_meta/add",
        `{"items":[{"id":"d","vector":[1,0,0],"metadata":{"x":${deep(1000)}}}]}`,
      ],
      ["/v1/observer/event", `{"endpoint":"/deep","extra":${deep(1000)}}`],
      ["/v1/observer/events", `[{"endpoint":"/deep","extra":${deep(100_000)}}]`],
    ];
    for (const [path, body] of cases) {
      const r = await postRaw(path, body);
      expect(r.status, path).toBe(400);
      expect(r.body.error.message, path).toMatch(/depth limit of 64/);
    }
    expect((await sys.json("/v1/pathway/get/deep")).status).toBe(404);
    expect((await sys.json("/v1/observer/health")).status).toBe(200);
  });
});
