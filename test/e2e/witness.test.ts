// The witness plane through the gateway, as a user drives it: the seed's observer smoke
// (5 events, stats, 400, kill + restart), the seed's pathway checks, and a cycle over
// real storage — all surviving a restart of the dev server. The same suite runs with the
// observer on one object and spread over 4 shards ([observerd].shards, issue #15): every
// answer must be the same.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type System, startSystem } from "./harness";

describe.each(["1", "4"])(
  "observer and pathway through the gateway, [observerd].shards = %s",
  (shards) => {
    let sys: System;
    beforeAll(async () => {
      sys = await startSystem({
        vars: { AUTH_TOKEN: "witness-token" },
        workerVars: { LH_OBSERVERD_SHARDS: shards },
      });
    });
    afterAll(() => sys?.stop());

    const post = (path: string, json: unknown) => sys.json(path, { method: "POST", json });

    it("observer smoke: 5 events (3 ok, 2 failed, two sources) → stats add up; empty endpoint → 400", async () => {
      const events = [
        { endpoint: "/v1/sql/sql", success: true, source: "mcp", duration_ms: 12 },
        { endpoint: "/v1/sql/sql", success: true, source: "mcp", duration_ms: 9 },
        {
          endpoint: "/scenario/staffing",
          success: true,
          source: "scenario",
          input_summary: "fill 3 forklift shifts",
        },
        {
          endpoint: "/v1/sql/sql",
          success: false,
          source: "mcp",
          error: "table people not found",
          sig_hash: "sig-people",
        },
        {
          endpoint: "/scenario/staffing",
          success: false,
          source: "scenario",
          error: "no candidates",
        },
      ];
      for (const e of events) {
        const r = await post("/v1/observer/event", e);
        expect(r.status).toBe(200);
        expect(r.body.accepted).toBe(true);
      }
      const stats = await sys.json("/v1/observer/stats");
      expect(stats.body).toMatchObject({
        total: 5,
        successes: 3,
        failures: 2,
        by_source: { mcp: 3, scenario: 2 },
      });
      expect(stats.body.recent_scenario_ops.map((o: any) => o.success)).toEqual([true, false]);
      const bad = await post("/v1/observer/event", { endpoint: "", success: true });
      expect(bad.status).toBe(400);
      expect(bad.body.error.message).toMatch(/endpoint/);
      expect((await sys.json("/v1/observer/health")).body.ring_size).toBe(5);
    });

    it("pathway: add, get, idempotent replay, update, revise + history, retire hidden but gettable, stats", async () => {
      const add = await post("/v1/pathway/add", {
        uid: "run-1",
        content: { plan: "ingest people.csv", steps: 3 },
        tags: ["etl"],
      });
      expect(add.status).toBe(200); // 1
      expect((await sys.json("/v1/pathway/get/run-1")).body.content).toEqual({
        plan: "ingest people.csv",
        steps: 3,
      }); // 2
      expect((await post("/v1/pathway/add", { uid: "run-1", content: 1 })).status).toBe(409); // 3
      expect(
        (await post("/v1/pathway/add_idempotent", { uid: "seen-1", content: "first" })).body
          .replay_count,
      ).toBe(0); // 4
      const replay = await post("/v1/pathway/add_idempotent", { uid: "seen-1", content: "second" });
      expect(replay.body).toMatchObject({ replay_count: 1, content: "first" }); // 5
      expect(
        (
          await post("/v1/pathway/update", {
            uid: "run-1",
            content: { plan: "ingest people.csv", steps: 4 },
          })
        ).body.content.steps,
      ).toBe(4); // 6
      const v2 = await post("/v1/pathway/revise", {
        predecessor_uid: "run-1",
        uid: "run-2",
        content: { plan: "ingest people_v2.csv" },
        tags: ["etl"],
      });
      expect(v2.body.predecessor_uid).toBe("run-1"); // 7
      const history = await sys.json("/v1/pathway/history/run-2");
      expect(history.body.traces.map((t: any) => t.uid)).toEqual(["run-2", "run-1"]); // 8
      await post("/v1/pathway/retire", { uid: "run-1" });
      const search = await post("/v1/pathway/search", { tags: ["etl"] });
      expect(search.body.traces.map((t: any) => t.uid)).toEqual(["run-2"]); // 9
      expect((await sys.json("/v1/pathway/get/run-1")).body.retired).toBe(true); // 10
      expect((await sys.json("/v1/pathway/stats")).body).toEqual({
        total: 3,
        active: 2,
        retired: 1,
      }); // 11
      expect(
        (await post("/v1/pathway/add", { content: "x", tags: "etl" })).body.error.message,
      ).toMatch(/tags/);
    });

    it("a cycle over real storage: corrections tailed, failures clustered and escalated once (heuristic: no LLM configured)", async () => {
      const corrections =
        [
          JSON.stringify({ endpoint: "/v1/sql/sql", correction: "the table is people_v2" }),
          "{broken",
          JSON.stringify({ correction: "quote city names" }),
        ].join("\n") + "\n";
      const put = await sys.fetch("/v1/storage/objects/observer/overseer_corrections.jsonl", {
        method: "PUT",
        body: corrections,
      });
      expect(put.status).toBe(200);
      for (let i = 0; i < 2; i++)
        await post("/v1/observer/event", {
          endpoint: "/v1/sql/sql",
          success: false,
          error: `table people not found (${i})`,
          sig_hash: "sig-people",
        });
      const cycle = await post("/v1/observer/cycle", {});
      expect(cycle.status).toBe(200);
      expect(cycle.body.corrections).toMatchObject({ status: "ok", applied: 2, malformed: 1 });
      expect(cycle.body.escalations.escalated).toEqual(["sig:sig-people"]);
      const esc = (await sys.json("/v1/observer/escalations")).body.escalations;
      expect(esc).toHaveLength(1);
      expect(esc[0]).toMatchObject({
        cluster_id: "sig:sig-people",
        source: "heuristic",
        cluster_count: 3,
      });
      expect(esc[0].briefing.notes.join(" ")).toMatch(/pathway: \d+ trace/);
      const clusters = (await sys.json("/v1/observer/clusters")).body.clusters;
      expect(clusters.find((c: any) => c.id === "sig:sig-people")).toMatchObject({
        count: 3,
        escalated: true,
      });
      const again = await post("/v1/observer/cycle", {});
      expect(again.body.escalations.escalated).toEqual([]);
      expect(again.body.corrections.applied).toBe(0);
      expect((await sys.json("/v1/observer/ops?source=overseer_correction")).body.count).toBe(2);
    });

    it("kill and restart: the ops, stats, traces and cycle results survive", async () => {
      const before = (await sys.json("/v1/observer/stats")).body;
      await sys.restart();
      const after = (await sys.json("/v1/observer/stats")).body;
      expect(after).toEqual(before);
      expect(after.total).toBe(5 + 2 + 2); // the smoke's 5, two more failures, two corrections
      const mcpOps = (await sys.json("/v1/observer/ops?source=mcp&limit=1000")).body.ops;
      expect(mcpOps.map((o: any) => o.success)).toEqual([true, true, false, false, false]);
      expect((await sys.json("/v1/pathway/get/seen-1")).body).toMatchObject({
        replay_count: 1,
        content: "first",
      });
      expect(
        (await sys.json("/v1/pathway/history/run-2")).body.traces.map((t: any) => t.uid),
      ).toEqual(["run-2", "run-1"]);
      expect((await sys.json("/v1/pathway/stats")).body).toEqual({
        total: 3,
        active: 2,
        retired: 1,
      });
      expect((await sys.json("/v1/observer/escalations")).body.escalations).toHaveLength(1);
      // The corrections offset survived too: nothing is applied twice.
      expect((await post("/v1/observer/cycle", {})).body.corrections.applied).toBe(0);
    });

    it("the ring rolls over at 2,000 and keeps the newest 10 scenario ops, newest last — also across a restart", async () => {
      for (let b = 0; b < 41; b++) {
        const events = Array.from({ length: 50 }, (_, i) => ({
          endpoint: `/roll/${b}`,
          success: i % 4 !== 0,
          source: i % 2 ? "mcp" : "workflow",
        }));
        expect((await post("/v1/observer/events", { events })).body.accepted).toBe(50);
      }
      for (let i = 0; i < 12; i++)
        await post("/v1/observer/event", {
          endpoint: "/scenario/roll",
          source: "scenario",
          success: i % 3 !== 0,
          input_summary: `step ${i}`,
        });
      const stats = (await sys.json("/v1/observer/stats")).body;
      expect(stats.total).toBe(2000);
      expect(stats.successes + stats.failures).toBe(2000);
      expect(
        Object.values(stats.by_source as Record<string, number>).reduce((a, b) => a + b, 0),
      ).toBe(2000);
      expect(stats.recent_scenario_ops.map((o: any) => o.input_summary)).toEqual(
        Array.from({ length: 10 }, (_, i) => `step ${i + 2}`),
      );
      expect((await sys.json("/v1/observer/ops?limit=1")).body.log_size).toBe(9 + 41 * 50 + 12);
      await sys.restart();
      expect((await sys.json("/v1/observer/stats")).body).toEqual(stats);
    });
  },
);
