// [observerd].shards (issue #15): the merge of the shards' rings equals one ring fed the same ops
// in id order; the shard key is stable and spreads; with 3 shards the routes answer as one object
// (stats, ops pages, a cycle that clusters across shards and escalates once); going back to 1
// shard keeps every op readable (the span recorded in shard 0).
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ObservedOp } from "../../../shared/types";
import worker from "../src/index";
import { Ring } from "../src/ops";
import { mergeRings, shardOf } from "../src/shards";

type Json = { status: number; body: any };
const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} } as never;

async function call(
  shards: number,
  path: string,
  json?: unknown,
  requestId?: string,
): Promise<Json> {
  const headers: Record<string, string> =
    json === undefined ? {} : { "content-type": "application/json" };
  if (requestId) headers["x-request-id"] = requestId;
  const init: RequestInit =
    json === undefined ? { headers } : { method: "POST", headers, body: JSON.stringify(json) };
  const res = await worker.fetch!(
    new Request(`http://x/observer${path}`, init) as never,
    { ...env, LH_OBSERVERD_SHARDS: String(shards) } as Env,
    ctx,
  );
  return { status: res.status, body: await res.json() };
}

function op(i: number, source: string, success: boolean, pad = 0): ObservedOp {
  return {
    timestamp: new Date(1_700_000_000_000 + i).toISOString(),
    endpoint: `/e/${i}`,
    input_summary: "x".repeat(pad),
    success,
    duration_ms: 0,
    output_summary: "",
    source: source as never,
  };
}

describe("merging shards", () => {
  it("mergeRings gives exactly what one ring fed every op in id order holds (count and byte bounds, recent scenarios)", () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (const [cap, maxBytes, n] of [
      [50, 1e9, 400],
      [2000, 1e9, 3000],
      [100, 6000, 500],
      [10, 1e9, 5],
    ] as const) {
      const shards = Array.from({ length: 4 }, () => new Ring(cap, 10, maxBytes));
      const one = new Ring(cap, 10, maxBytes);
      for (let i = 1; i <= n; i++) {
        const o = op(
          i,
          ["mcp", "scenario", "workflow"][Math.floor(rnd() * 3)]!,
          rnd() < 0.7,
          Math.floor(rnd() * 200),
        );
        const bytes = JSON.stringify(o).length;
        const id = i * 32 + Math.floor(rnd() * 4);
        shards[id % 32]!.push(o, bytes, id);
        one.push(o, bytes, id);
      }
      const merged = mergeRings(
        shards.map((r) => r.digest()),
        cap,
        maxBytes,
        10,
      );
      expect(merged).toEqual(one.stats());
    }
  });

  it("the shard key is stable and spreads", () => {
    expect(shardOf("abc", 1)).toBe(0);
    expect(shardOf("req-1", 4)).toBe(shardOf("req-1", 4));
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[shardOf(crypto.randomUUID(), 4)]!++;
    for (const c of counts) expect(c).toBeGreaterThan(800);
  });
});

describe("three shards through the routes", () => {
  it("stats, ops and a cycle answer as one object; one escalation per cluster; back to 1 shard, every op still readable", async () => {
    const events = [
      { endpoint: "/v1/sql", success: true, source: "mcp" },
      { endpoint: "/scenario/a", success: true, source: "scenario", input_summary: "s1" },
      {
        endpoint: "/v1/sql",
        success: false,
        source: "mcp",
        error: "table x not found",
        sig_hash: "sig-X",
      },
      {
        endpoint: "/v1/sql/2",
        success: false,
        source: "mcp",
        error: "table x not found",
        sig_hash: "sig-X",
      },
      {
        endpoint: "/scenario/b",
        success: false,
        source: "scenario",
        input_summary: "s2",
        error: "no rows",
      },
      {
        endpoint: "/v1/sql/3",
        success: false,
        source: "workflow",
        error: "table x not found",
        sig_hash: "sig-X",
      },
      { endpoint: "/v1/sql", success: true, source: "mcp" },
      { endpoint: "/v1/sql", success: true, source: "mcp" },
    ];
    const shardsUsed = new Set<number>();
    for (const [i, e] of events.entries()) {
      const r = await call(3, "/event", e, `req-${i}`);
      expect(r.status).toBe(200);
      shardsUsed.add(r.body.id % 32);
    }
    expect(shardsUsed.size).toBeGreaterThan(1);
    const stats = (await call(3, "/stats")).body;
    expect(stats).toMatchObject({
      total: 8,
      successes: 4,
      failures: 4,
      by_source: { mcp: 5, scenario: 2, workflow: 1 },
    });
    expect(stats.recent_scenario_ops.map((o: any) => o.input_summary)).toEqual(["s1", "s2"]);
    expect((await call(3, "/health")).body.ring_size).toBe(8);

    // pages of 3 through the merged log: every op once, in id order
    const seen: any[] = [];
    let after = "";
    for (;;) {
      const page = (await call(3, `/ops?limit=3${after}`)).body;
      expect(page.log_size).toBe(8);
      seen.push(...page.ops);
      if (page.next_after_id === null) break;
      after = `&after_id=${page.next_after_id}`;
    }
    expect(seen.map((o) => o.endpoint)).toEqual(events.map((e) => e.endpoint));

    const cycle = (await call(3, "/cycle", {})).body;
    expect(cycle.analysis).toMatchObject({ processed: 8, failures: 4, successes: 4 });
    expect(cycle.escalations.escalated).toEqual(["sig:sig-X"]);
    const clusters = (await call(3, "/clusters")).body.clusters;
    expect(clusters.find((c: any) => c.id === "sig:sig-X")).toMatchObject({
      count: 3,
      endpoints: ["/v1/sql", "/v1/sql/2", "/v1/sql/3"],
      escalated: true,
    });
    expect((await call(3, "/playbooks")).body.playbooks.map((p: any) => p.pattern)).toEqual([
      "/v1/sql",
    ]);
    const again = (await call(3, "/cycle", {})).body;
    expect(again.analysis.processed).toBe(0);
    expect(again.escalations.escalated).toEqual([]);
    // one more failure of the cluster on whichever shard: counted once more, never a second escalation
    await call(
      3,
      "/event",
      { endpoint: "/v1/sql/4", success: false, error: "table x not found", sig_hash: "sig-X" },
      "req-late",
    );
    expect((await call(3, "/cycle", {})).body.analysis.processed).toBe(1);
    expect((await call(3, "/escalations")).body.escalations).toHaveLength(1);

    // A shard's page within a byte share stops early (at least one op) and says there is more.
    const s0 = env.OBSERVER.get(env.OBSERVER.idFromName("default"));
    const all0 = await s0.queryPage({ limit: 100 });
    const cut = await s0.queryPage({ limit: 100, max_bytes: 1 });
    expect(cut.ops).toHaveLength(1);
    expect(cut.next_after_id).toBe(all0.ops.length > 1 ? cut.ops[0]!.id : null);

    // The count goes back to 1: shard 0 recorded a span of 3, so every op stays readable.
    expect((await call(1, "/stats")).body).toEqual((await call(3, "/stats")).body);
    expect((await call(1, "/ops?limit=1000")).body.count).toBe(9);
  });
});
