// The observer cycle: the scheduled handler called directly (as the cron trigger does)
// and POST /observer/cycle. Clusters, one escalation per cluster, playbooks, the LLM
// being down, overseer corrections tailed from storage, two cycles at once, and a
// cycle that stopped half-way.

import { createExecutionContext, createScheduledController } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import fakeLlm from "../../../test/fakes/llm/src/index";
import { runCycle } from "../src/cycle";
import worker from "../src/index";

type Json = { status: number; body: any };

async function call(path: string, json?: unknown): Promise<Json> {
  const init: RequestInit =
    json === undefined
      ? {}
      : {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(json),
        };
  const res = await exports.default.fetch(`http://x/observer${path}`, init);
  return { status: res.status, body: await res.json() };
}

const LLM = {
  fetch: (input: RequestInfo | URL, init?: RequestInit) => fakeLlm.fetch(new Request(input, init)),
};
function llmEnv(model: string, extra: Record<string, unknown> = {}): Env {
  return {
    ...env,
    LH_LLM_PROVIDER: "ollama",
    LH_LLM_MODEL: model,
    LH_LLM_URL: "http://fake-llm.test",
    LLM,
    ...extra,
  } as unknown as Env;
}

async function cron(e: Env): Promise<void> {
  await worker.scheduled!(
    createScheduledController({ cron: "*/5 * * * *", scheduledTime: Date.now() }),
    e,
    createExecutionContext(),
  );
}

async function llmCalls(): Promise<{ task: string; model: string }[]> {
  return (
    (await (await fakeLlm.fetch(new Request("http://fake/calls"))).json()) as {
      calls: { task: string; model: string }[];
    }
  ).calls;
}

const fail = (sig: string, n: number) => ({
  endpoint: `/v1/sql/sql`,
  success: false,
  source: "scenario",
  sig_hash: sig,
  error: `table people_${n} not found`,
});

/** A matrix that is down: every call 503 (stands in for an outage of the real service). */
const matrixDown = {
  fetch: async () =>
    Response.json(
      { error: { code: "service_unavailable", message: "matrix down" } },
      { status: 503 },
    ),
};

describe("the cycle", () => {
  it("turns 3 failures with one sig_hash into one cluster and one escalation; a 4th adds without a second", async () => {
    for (let i = 0; i < 3; i++) expect((await call("/event", fail("sig-A", i))).status).toBe(200);
    await call("/event", {
      endpoint: "/v1/vectors/index/x/search",
      success: false,
      error: 'index "x" not found',
    });
    await cron(llmEnv("fake-ok", { MATRIX: matrixDown }));

    const clusters = (await call("/clusters")).body.clusters;
    const a = clusters.find((c: any) => c.id === "sig:sig-A");
    expect(a).toMatchObject({
      sig_hash: "sig-A",
      count: 3,
      endpoints: ["/v1/sql/sql"],
      escalated: true,
    });
    expect(a.sample_errors).toEqual([
      "table people_0 not found",
      "table people_1 not found",
      "table people_2 not found",
    ]);
    expect(a.normalized_error).toBe("table people_<n> not found");
    // The failure without sig_hash clusters by endpoint pattern and normalised error, below the threshold.
    const b = clusters.find((c: any) => c.id.startsWith("ep:"));
    expect(b).toMatchObject({
      count: 1,
      escalated: false,
      normalized_error: "index <str> not found",
    });

    let escalations = (await call("/escalations")).body.escalations;
    expect(escalations).toHaveLength(1);
    expect(escalations[0]).toMatchObject({
      cluster_id: "sig:sig-A",
      status: "done",
      source: "llm",
      cluster_count: 3,
    });
    expect(escalations[0].answer).toMatch(/fake-llm escalation analysis for sig:sig-A/);
    expect(escalations[0].briefing.cluster.id).toBe("sig:sig-A");
    expect(escalations[0].briefing.notes.join(" ")).toMatch(/pathway: 0 trace/);
    expect(escalations[0].briefing.notes.join(" ")).toMatch(/matrix skipped/);

    const recs = (await call("/recommendations")).body.recommendations;
    expect(recs.map((r: any) => r.cluster_id).sort()).toEqual([b.id, "sig:sig-A"].sort());
    expect(recs.every((r: any) => r.source === "llm")).toBe(true);

    // A fourth failure: the cluster grows, no second escalation, a fresh recommendation.
    await call("/event", fail("sig-A", 3));
    await cron(llmEnv("fake-ok", { MATRIX: matrixDown }));
    const a2 = (await call("/clusters")).body.clusters.find((c: any) => c.id === "sig:sig-A");
    expect(a2.count).toBe(4);
    escalations = (await call("/escalations")).body.escalations;
    expect(escalations).toHaveLength(1);
    const recs2 = (await call("/recommendations")).body.recommendations;
    expect(
      recs2.filter((r: any) => r.cluster_id === "sig:sig-A").map((r: any) => r.cluster_count),
    ).toEqual([4, 3]);
    expect(
      (await llmCalls()).filter((c) => c.task === "ESCALATION" && c.model === "fake-ok"),
    ).toHaveLength(1);
  });

  it("turns repeated successes of one endpoint pattern into a playbook, recorded in matrix exactly once when it answers", async () => {
    for (const id of [101, 102, 103])
      await call("/event", {
        endpoint: `/v1/catalog/manifest/${id}`,
        success: true,
        input_summary: `manifest ${id}`,
      });
    await call("/event", { endpoint: "/v1/embed/embed", success: true });
    const first = await runCycle(llmEnv("fake-ok", { MATRIX: matrixDown }), "test");
    expect(first.analysis!.new_playbooks).toContain("/v1/catalog/manifest/:id");
    expect(first.playbooks).toMatchObject({ status: "skipped", recorded: 0 });
    expect(first.playbooks!.reason).toMatch(/matrix down/);
    let playbooks = (await call("/playbooks")).body.playbooks;
    const p = playbooks.find((x: any) => x.pattern === "/v1/catalog/manifest/:id");
    expect(p).toMatchObject({ successes: 3, success_rate: 1, matrix_playbook_id: null });
    expect(p.matrix_error).toMatch(/matrix down/);
    expect(p.samples).toEqual(["manifest 101", "manifest 102", "manifest 103"]);
    expect(playbooks.find((x: any) => x.pattern === "/v1/embed/embed")).toBeUndefined();

    // matrix is back: the pending playbook is recorded, once; a later cycle does not record it again.
    const recorded: any[] = [];
    const matrixUp = {
      fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
        const req = new Request(input, init);
        if (new URL(req.url).pathname !== "/matrix/playbooks/record")
          return Response.json({ error: { code: "not_found", message: "no" } }, { status: 404 });
        recorded.push(await req.json());
        return Response.json({ playbook_id: `pb-${recorded.length}` });
      },
    };
    const second = await runCycle(llmEnv("fake-ok", { MATRIX: matrixUp }), "test");
    expect(second.playbooks).toMatchObject({ status: "ok", recorded: 1 });
    await runCycle(llmEnv("fake-ok", { MATRIX: matrixUp }), "test");
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({
      answer_id: "/v1/catalog/manifest/:id",
      answer_corpus: "observer_playbooks",
      score: 1,
    });
    playbooks = (await call("/playbooks")).body.playbooks;
    expect(playbooks.find((x: any) => x.pattern === "/v1/catalog/manifest/:id")).toMatchObject({
      matrix_playbook_id: "pb-1",
      matrix_error: null,
    });
  });

  it("with the LLM down, escalations and recommendations come from the heuristic and say so", async () => {
    for (let i = 0; i < 3; i++)
      await call("/event", { ...fail("sig-B", i), error: `request timed out after ${i + 30} s` });
    const s = await runCycle(llmEnv("fake-down", { MATRIX: matrixDown }), "test");
    expect(s.escalations).toMatchObject({ escalated: ["sig:sig-B"], by_llm: 0, by_heuristic: 1 });
    const esc = (await call("/escalations")).body.escalations.find(
      (e: any) => e.cluster_id === "sig:sig-B",
    );
    expect(esc).toMatchObject({ source: "heuristic", status: "done" });
    expect(esc.llm_error).toMatch(/503/);
    expect(esc.answer).toMatch(/No LLM answered/);
    const rec = (await call("/recommendations")).body.recommendations.find(
      (r: any) => r.cluster_id === "sig:sig-B",
    );
    expect(rec.source).toBe("heuristic");
    expect(rec.text).toMatch(/timeout/);
    // The same with no provider at all: heuristics, no LLM error recorded.
    await call("/event", { ...fail("sig-B", 9), error: "request timed out after 99 s" });
    await runCycle(env, "test");
    const latest = (await call("/recommendations")).body.recommendations[0];
    expect(latest).toMatchObject({
      cluster_id: "sig:sig-B",
      source: "heuristic",
      llm_error: null,
      cluster_count: 4,
    });
  });

  it("tails overseer corrections from storage: valid, corrupt, valid → 2 applied; then only the new tail", async () => {
    const key = "observer/overseer_corrections.jsonl";
    const put = (text: string) =>
      env.STORAGE.fetch(`http://storage/storage/objects/${key}`, { method: "PUT", body: text });
    // Stamped relative to now: a fixed date falls out of the observer's retention window one day.
    const stamped = new Date(Date.now() - 3_600_000).toISOString();
    const l1 = JSON.stringify({
      timestamp: stamped,
      endpoint: "/v1/sql/sql",
      correction: "use people_v2, not people",
    });
    const l2 = "{not json at all";
    const l3 = JSON.stringify({ correction: "escape quotes in city names", staffer_id: "s-7" });
    expect((await put(`${l1}\n${l2}\n${l3}\n`)).status).toBe(200);
    const s1 = await runCycle(env, "test");
    expect(s1.corrections).toMatchObject({ status: "ok", applied: 2, malformed: 1 });
    let ops = (await call("/ops?source=overseer_correction")).body.ops;
    expect(ops.map((o: any) => o.input_summary)).toEqual([
      "use people_v2, not people",
      "escape quotes in city names",
    ]);
    expect(ops[0]).toMatchObject({ endpoint: "/v1/sql/sql", timestamp: stamped, success: true });
    expect(ops[1]).toMatchObject({ endpoint: "overseer/correction", staffer_id: "s-7" });
    // Nothing new: nothing applied.
    expect((await runCycle(env, "test")).corrections).toMatchObject({ applied: 0, malformed: 0 });
    // The file grows by one complete line and a half-written one: only the complete line now…
    const l4 = JSON.stringify({ correction: "fourth" });
    const l5 = JSON.stringify({ correction: "fifth" });
    await put(`${l1}\n${l2}\n${l3}\n${l4}\n${l5.slice(0, 8)}`);
    expect((await runCycle(env, "test")).corrections).toMatchObject({ applied: 1, malformed: 0 });
    // …and the rest once it is finished.
    await put(`${l1}\n${l2}\n${l3}\n${l4}\n${l5}\n`);
    expect((await runCycle(env, "test")).corrections).toMatchObject({ applied: 1 });
    ops = (await call("/ops?source=overseer_correction")).body.ops;
    expect(ops.map((o: any) => o.input_summary)).toEqual([
      "use people_v2, not people",
      "escape quotes in city names",
      "fourth",
      "fifth",
    ]);
    expect((await call("/stats")).body.by_source.overseer_correction).toBe(4);
    // A shorter replacement file (rotated): read again from its start.
    await put(`${l4}\n`);
    expect((await runCycle(env, "test")).corrections).toMatchObject({ applied: 1 });
  });

  it("two cycles at once: the second is refused and nothing is done twice", async () => {
    for (let i = 0; i < 3; i++) await call("/event", fail("sig-C", i));
    const [x, y] = await Promise.all([
      runCycle(llmEnv("fake-ok", { MATRIX: matrixDown }), "a"),
      runCycle(llmEnv("fake-ok", { MATRIX: matrixDown }), "b"),
    ]);
    expect([x.status, y.status].sort()).toEqual(["busy", "completed"]);
    const r = await call("/cycle", {});
    expect(r.status).toBe(200);
    expect(r.body.status).toBe("completed");
    expect(
      (await call("/escalations")).body.escalations.filter(
        (e: any) => e.cluster_id === "sig:sig-C",
      ),
    ).toHaveLength(1);
    expect(
      (await llmCalls()).filter((c) => c.task === "ESCALATION" && c.model === "fake-ok"),
    ).toHaveLength(2); // sig-A earlier, sig-C now
  });

  it("a cycle that stopped half-way loses nothing: the next one finishes its escalation, once", async () => {
    for (let i = 0; i < 3; i++) await call("/event", fail("sig-D", i));
    const stub = env.OBSERVER.get(env.OBSERVER.idFromName("default"));
    // A cycle that took the lease, analysed and claimed the escalation, then died.
    const begun = await stub.beginCycle("crashed", Date.now() - 10 * 60_000, 1000);
    expect("cycle_id" in begun).toBe(true);
    await stub.analyse(5000, 3);
    const claimed = await stub.claimEscalations(3, 50);
    expect(claimed.map((c) => c.cluster.id)).toContain("sig:sig-D");
    expect(
      (await call("/escalations")).body.escalations.find((e: any) => e.cluster_id === "sig:sig-D")
        .status,
    ).toBe("pending");
    // The next cron tick (the stale lease has expired) completes it.
    await cron(llmEnv("fake-ok", { MATRIX: matrixDown }));
    const d = (await call("/escalations")).body.escalations.filter(
      (e: any) => e.cluster_id === "sig:sig-D",
    );
    expect(d).toHaveLength(1);
    expect(d[0]).toMatchObject({ status: "done", source: "llm" });
    const cycles = (await call("/cycles")).body.cycles;
    expect(
      cycles.some(
        (c: any) =>
          c.trigger === "cron */5 * * * *" && c.summary.escalations.escalated.includes("sig:sig-D"),
      ),
    ).toBe(true);
  });
});
