// The witness plane over several Observer objects ([observerd].shards, issue #15), through the
// gateway: a log written by one object stays readable when the count grows to 4 and shrinks to 2;
// with 4 shards the merged ring rolls over at ring_cap (2,000) with stats that add up, the recent
// scenarios are the newest 10 across shards, newest last; /ops pages through every shard's log
// once, in id order; a cluster whose failures landed on different shards is escalated once; and a
// load run across a kill-and-restart loses no acknowledged event.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type System, startSystem } from "./harness";

const TOKEN = "shards-token";

async function allOps(
  sys: System,
  query = "",
): Promise<{ id: number; input_summary: string; source: string }[]> {
  const out: { id: number; input_summary: string; source: string }[] = [];
  let after: number | null = null;
  for (;;) {
    const r: { status: number; body: any } = await sys.json(
      `/v1/observer/ops?limit=1000${query}${after === null ? "" : `&after_id=${after}`}`,
    );
    expect(r.status).toBe(200);
    out.push(...r.body.ops);
    if (r.body.next_after_id === null) return out;
    after = r.body.next_after_id;
  }
}

describe("observer shards", () => {
  const dir = mkdtempSync(join(tmpdir(), "lakehouse-shards-"));
  let sys: System | undefined;
  const boot = async (shards: string) => {
    await sys?.stop();
    sys = await startSystem({
      persistDir: dir,
      vars: { AUTH_TOKEN: TOKEN },
      workerVars: { LH_OBSERVERD_SHARDS: shards },
    });
    return sys;
  };
  afterAll(async () => {
    await sys?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  let before = 0;
  beforeAll(async () => {
    // A log written by the single object (shards = 1), as every deployment before shards had.
    const one = await boot("1");
    for (let i = 0; i < 30; i++) {
      expect(
        (
          await one.json("/v1/observer/event", {
            method: "POST",
            json: { endpoint: "/old", success: true, input_summary: `old-${i}` },
          })
        ).status,
      ).toBe(200);
    }
    before = (await one.json("/v1/observer/ops?limit=1")).body.log_size;
    expect(before).toBe(30);
  });

  it("4 shards: the old log stays readable; the merged ring rolls over at 2,000; recent scenarios are the newest 10, newest last", async () => {
    const s = await boot("4");
    expect((await allOps(s)).map((o) => o.input_summary)).toEqual(
      Array.from({ length: 30 }, (_, i) => `old-${i}`),
    );
    // 2,100 ops in batches of 50: each request has its own id, so the batches spread over the shards.
    for (let b = 0; b < 42; b++) {
      const events = Array.from({ length: 50 }, (_, i) => ({
        endpoint: `/load/${b}`,
        success: i % 3 !== 0,
        source: i % 2 ? "mcp" : "workflow",
        input_summary: `b${b}-${i}`,
      }));
      const r = await s.json("/v1/observer/events", { method: "POST", json: { events } });
      expect(r.status).toBe(200);
      expect(r.body.accepted).toBe(50);
    }
    for (let i = 0; i < 12; i++) {
      expect(
        (
          await s.json("/v1/observer/event", {
            method: "POST",
            json: {
              endpoint: "/scenario/step",
              source: "scenario",
              success: true,
              input_summary: `sc-${i}`,
            },
          })
        ).status,
      ).toBe(200);
    }
    const stats = (await s.json("/v1/observer/stats")).body;
    expect(stats.total).toBe(2000);
    expect(stats.successes + stats.failures).toBe(2000);
    expect(
      Object.values(stats.by_source as Record<string, number>).reduce((a, b) => a + b, 0),
    ).toBe(2000);
    expect(stats.by_source.scenario).toBe(12);
    expect(stats.recent_scenario_ops.map((o: any) => o.input_summary)).toEqual(
      Array.from({ length: 10 }, (_, i) => `sc-${i + 2}`),
    );
    expect((await s.json("/v1/observer/health")).body.ring_size).toBe(2000);
    // The log, every shard once, in id order.
    const ops = await allOps(s);
    expect(ops).toHaveLength(30 + 2100 + 12);
    expect((await s.json("/v1/observer/ops?limit=1")).body.log_size).toBe(30 + 2100 + 12);
    for (let i = 1; i < ops.length; i++) expect(ops[i]!.id).toBeGreaterThan(ops[i - 1]!.id);
    expect(new Set(ops.map((o) => o.input_summary)).size).toBe(ops.length);
    // The events really were spread: several shards hold ops (ids carry the shard in their low 5 bits).
    expect(new Set(ops.slice(30).map((o) => o.id % 32)).size).toBeGreaterThan(1);
    // The ring's oldest op by the merged order is the 2000th newest of the log.
    const scenario = await allOps(s, "&source=scenario");
    expect(scenario.map((o) => o.input_summary)).toEqual(
      Array.from({ length: 12 }, (_, i) => `sc-${i}`),
    );
  });

  it("a cluster whose failures landed on different shards is clustered once and escalated once", async () => {
    const s = sys!;
    for (let i = 0; i < 6; i++) {
      expect(
        (
          await s.json("/v1/observer/event", {
            method: "POST",
            json: {
              endpoint: `/v1/sql/q${i}`,
              success: false,
              error: `boom ${i}`,
              sig_hash: "sig-spread",
            },
          })
        ).status,
      ).toBe(200);
    }
    const ids = (await allOps(s)).slice(-6).map((o) => o.id % 32);
    expect(new Set(ids).size).toBeGreaterThan(1); // the six really are on more than one shard
    const cycle = await s.json("/v1/observer/cycle", { method: "POST", json: {} });
    expect(cycle.status).toBe(200);
    expect(cycle.body.analysis.processed).toBe(30 + 2100 + 12 + 6);
    expect(cycle.body.escalations.escalated).toContain("sig:sig-spread");
    const cluster = (await s.json("/v1/observer/clusters")).body.clusters.find(
      (c: any) => c.id === "sig:sig-spread",
    );
    expect(cluster).toMatchObject({ count: 6, escalated: true });
    expect(cluster.endpoints).toHaveLength(6);
    // playbooks: /load/:id has 42 × 33 successes spread over every shard: one playbook
    const playbooks = (await s.json("/v1/observer/playbooks")).body.playbooks;
    expect(playbooks.filter((p: any) => p.pattern === "/load/:id")).toHaveLength(1);
    expect(playbooks.find((p: any) => p.pattern === "/load/:id").successes).toBe(42 * 33);
    const again = await s.json("/v1/observer/cycle", { method: "POST", json: {} });
    expect(again.body.analysis.processed).toBe(0);
    expect(again.body.escalations.escalated).toEqual([]);
    expect(
      (await s.json("/v1/observer/escalations")).body.escalations.filter(
        (e: any) => e.cluster_id === "sig:sig-spread",
      ),
    ).toHaveLength(1);
  });

  it("a load run across a kill-and-restart with 4 shards loses no acknowledged event", async () => {
    const s = sys!;
    const acked: string[] = [];
    let n = 0;
    let stop = false;
    const worker = async () => {
      while (!stop) {
        const marker = `load-${n++}`;
        try {
          const res = await fetch(`${s.url}/v1/observer/event`, {
            method: "POST",
            headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
            body: JSON.stringify({
              endpoint: "/restart/load",
              success: true,
              input_summary: marker,
            }),
            signal: AbortSignal.timeout(10_000),
          });
          if (res.status === 200) acked.push(marker);
          else await res.arrayBuffer();
        } catch {
          await new Promise((r) => setTimeout(r, 50)); // the server is down or restarting
        }
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, worker));
    await new Promise((r) => setTimeout(r, 3000));
    const beforeRestart = acked.length;
    await s.restart(); // SIGTERM, then SIGKILL if it lingers, mid-load
    await new Promise((r) => setTimeout(r, 2000));
    stop = true;
    await load;
    expect(beforeRestart).toBeGreaterThan(0);
    expect(acked.length).toBeGreaterThan(beforeRestart); // some were acknowledged after the restart too
    const logged = new Set((await allOps(s)).map((o) => o.input_summary));
    const lost = acked.filter((m) => !logged.has(m));
    console.log(
      `load across restart: ${acked.length} acknowledged (${beforeRestart} before the restart), ${lost.length} lost`,
    );
    expect(lost).toEqual([]);
  });

  it("shrinking to 2 shards keeps every op readable, and the stats unchanged", async () => {
    const statsBefore = (await sys!.json("/v1/observer/stats")).body;
    const opsBefore = await allOps(sys!);
    const s = await boot("2");
    expect((await s.json("/v1/observer/stats")).body).toEqual(statsBefore);
    expect(await allOps(s)).toEqual(opsBefore);
    expect(
      (
        await s.json("/v1/observer/event", {
          method: "POST",
          json: { endpoint: "/after-shrink", success: true },
        })
      ).status,
    ).toBe(200);
    expect((await s.json("/v1/observer/ops?limit=1")).body.log_size).toBe(opsBefore.length + 1);
  });
});
