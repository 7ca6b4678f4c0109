// Issue #12, "trust nothing": vector metadata is capped per item ([vectord].max_metadata_bytes,
// 400 naming the item and the cap), counted in the shard's memory bound (a shard full of
// maximal metadata stays inside its budget: 507 before it would not), and deep JSON is a 400.
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { toLakehouseError } from "../../../shared/app";
import { isRpcSizeError } from "../../../shared/json-limits";
import { seededRandom as seeded } from "../../../shared/random";
import { shardCapacity } from "../src/index";
import { METADATA_HEAP_FACTOR, perVectorBytes } from "../src/vector-index";

async function call(
  path: string,
  init: { json?: unknown; raw?: string } = {},
  bindings: object = env,
): Promise<{ status: number; body: any }> {
  const req = new Request(`http://x/vectors${path}`, {
    method: init.json !== undefined || init.raw !== undefined ? "POST" : "GET",
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

function vectors(n: number, dim: number, seed = 1): number[][] {
  const r = seeded(seed);
  return Array.from({ length: n }, () => Array.from({ length: dim }, () => r() * 2 - 1));
}

describe("metadata bounds", () => {
  it("metadata over [vectord].max_metadata_bytes is a 400 naming the item and the cap; nothing is written", async () => {
    expect((await call("/index", { json: { name: "meta", dimension: 4 } })).status).toBe(201);
    const ok = { id: "a", vector: [1, 0, 0, 0], metadata: { note: "x".repeat(3000) } };
    const big = { id: "b", vector: [0, 1, 0, 0], metadata: { note: "x".repeat(5000) } };
    const r = await call("/index/meta/add", { json: { items: [ok, big] } });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(
      /^items\[1\]\.metadata: \d+ bytes of JSON, over the 4096-byte cap \(\[vectord\]\.max_metadata_bytes\)/,
    );
    expect((await call("/index/meta")).body.count).toBe(0);
    expect((await call("/index/meta/add", { json: { items: [ok] } })).body).toEqual({
      added: 1,
      count: 1,
    });
  });

  it("deeply nested metadata (or any body) is a 400 naming the depth limit", async () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100; i++) deep = { d: deep };
    const r = await call("/index/meta/add", {
      json: { items: [{ id: "d", vector: [1, 1, 0, 0], metadata: deep }] },
    });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(/depth limit of 64/);
    const huge = await call("/index/meta/add", {
      raw: `{"items":${"[".repeat(300_000)}${"]".repeat(300_000)}}`,
    });
    expect(huge.status).toBe(400);
  });

  it("a shard full of maximal metadata stays inside its memory budget: metadata counts against it (507)", async () => {
    const small = { ...env, LH_VECTORD_SHARD_MEMORY_MB: "1" };
    const dim = 64;
    const capacity = shardCapacity(dim, 16, 1, "none");
    const per = perVectorBytes(dim, 16, "none");
    expect(capacity).toBe(Math.floor((1024 * 1024) / per));
    expect(
      (await call("/index", { json: { name: "fat", dimension: dim, quantization: "none" } }, small))
        .status,
    ).toBe(201);
    const meta = { note: "m".repeat(4000) }; // ≈ 4 KiB each, ×2 in memory
    const vs = vectors(400, dim, 5);
    let added = 0;
    let refused: { status: number; body: any } | undefined;
    for (let i = 0; i < vs.length; i += 20) {
      const r = await call(
        "/index/fat/add",
        {
          json: {
            items: vs
              .slice(i, i + 20)
              .map((v, j) => ({ id: `f${i + j}`, vector: v, metadata: meta })),
          },
        },
        small,
      );
      if (r.status !== 200) {
        refused = r;
        break;
      }
      added = r.body.count;
    }
    expect(refused?.status).toBe(507);
    expect(refused?.body.error.message).toMatch(/bytes of metadata .*more shards/);
    // Without metadata the shard would take `capacity` vectors; with ~8 KiB of heap per item, far fewer.
    const budget = capacity * per;
    expect(
      added * per + added * METADATA_HEAP_FACTOR * JSON.stringify(meta).length,
    ).toBeLessThanOrEqual(budget);
    expect(added).toBeLessThan(capacity / 2);
    const stats = (await call("/index/fat/stats", {}, small)).body.shard_stats[0];
    expect(stats.metadata_bytes).toBe(added * JSON.stringify(meta).length);
    // Deleting frees the metadata's share: the shard takes more again.
    await call(
      "/index/fat/delete",
      { json: { ids: Array.from({ length: 40 }, (_, i) => `f${i}`) } },
      small,
    );
    const again = await call(
      "/index/fat/add",
      { json: { items: [{ id: "g0", vector: vs[0], metadata: meta }] } },
      small,
    );
    expect(again.status).toBe(200);
  });

  it("a Durable Object call refused for its serialized size maps to 413 payload_too_large, not 500", async () => {
    const stub = env.VECTOR_INDEX.get(env.VECTOR_INDEX.idFromName("rpc-size#0"));
    let caught: unknown;
    try {
      await stub.add([{ id: "huge", vector: new Float32Array(10 * 1024 * 1024) }]); // 40 MiB argument
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeDefined();
    expect(isRpcSizeError(caught)).toBe(true);
    const e = toLakehouseError(caught);
    expect(e.status).toBe(413);
    expect(e.code).toBe("payload_too_large");
  });
});
