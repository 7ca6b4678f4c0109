// The observer's recording side: the seed's unit cases (validation, defaults, stats,
// recent-scenario cap and order, ring rollover at the cap, durable round trip), the
// batch endpoint, the durable log query, and /review with and without the LLM.

import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import fakeLlm from "../../../test/fakes/llm/src/index";
import worker from "../src/index";
import { Observer } from "../src/observer";
import { Ring } from "../src/ops";

type Json = { status: number; body: any };

async function call(path: string, json?: unknown, e?: object): Promise<Json> {
  const init: RequestInit =
    json === undefined
      ? {}
      : {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(json),
        };
  const url = `http://x/observer${path}`;
  const res = e
    ? await worker.fetch!(
        new Request(url, init) as never,
        e as Env,
        { waitUntil() {}, passThroughOnException() {}, props: {} } as never,
      )
    : await exports.default.fetch(url, init);
  return { status: res.status, body: await res.json() };
}

const LLM = {
  fetch: (input: RequestInfo | URL, init?: RequestInit) => fakeLlm.fetch(new Request(input, init)),
};
function llmEnv(model: string, extra: Record<string, string> = {}): object {
  return {
    ...env,
    LH_LLM_PROVIDER: "ollama",
    LH_LLM_MODEL: model,
    LH_LLM_URL: "http://fake-llm.test",
    LLM,
    ...extra,
  };
}

describe("recording ops", () => {
  it("validates events: empty endpoint, bad source, bad timestamp, bad types → 400 naming the field", async () => {
    const cases: [unknown, RegExp][] = [
      [{ endpoint: "" }, /endpoint/],
      [{ success: true }, /endpoint/],
      [{ endpoint: "/x", source: "martian" }, /source.*martian/],
      [{ endpoint: "/x", timestamp: "yesterday-ish" }, /timestamp/],
      [{ endpoint: "/x", success: "yes" }, /success/],
      [{ endpoint: "/x", duration_ms: -1 }, /duration_ms/],
      [{ endpoint: "/x", sig_hash: 42 }, /sig_hash/],
      [[1, 2], /object/],
    ];
    for (const [body, re] of cases) {
      const r = await call("/event", body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe("bad_request");
      expect(r.body.error.message).toMatch(re);
    }
    expect((await call("/stats")).body.total).toBe(0);
  });

  it("fills the seed's defaults: missing timestamp → now, missing source → mcp", async () => {
    const before = Date.now();
    const r = await call("/event", { endpoint: "/v1/sql", success: true });
    expect(r.body).toMatchObject({ accepted: true, ring_size: 1 });
    const ops = (await call("/ops")).body.ops;
    expect(ops).toHaveLength(1);
    expect(ops[0]).toMatchObject({
      endpoint: "/v1/sql",
      source: "mcp",
      success: true,
      input_summary: "",
      output_summary: "",
      duration_ms: 0,
    });
    expect(Date.parse(ops[0].timestamp)).toBeGreaterThanOrEqual(before - 1000);
  });

  it("stats add up over 5 events (3 ok, 2 failed, two sources)", async () => {
    const base = (await call("/stats")).body;
    const events = [
      { endpoint: "/a", success: true, source: "mcp" },
      { endpoint: "/a", success: true, source: "scenario" },
      { endpoint: "/b", success: true, source: "scenario" },
      { endpoint: "/b", success: false, source: "mcp", error: "boom" },
      { endpoint: "/c", success: false, source: "scenario", error: "bang" },
    ];
    for (const e of events) expect((await call("/event", e)).status).toBe(200);
    const s = (await call("/stats")).body;
    expect(s.total).toBe(base.total + 5);
    expect(s.successes).toBe(base.successes + 3);
    expect(s.failures).toBe(base.failures + 2);
    expect(s.by_source.mcp).toBe((base.by_source.mcp ?? 0) + 2);
    expect(s.by_source.scenario).toBe((base.by_source.scenario ?? 0) + 3);
    expect(s.successes + s.failures).toBe(s.total);
  });

  it("keeps the last 10 scenario ops, newest last", async () => {
    for (let i = 0; i < 12; i++)
      await call("/event", { endpoint: `/scenario/${i}`, source: "scenario", success: true });
    await call("/event", { endpoint: "/not-a-scenario", source: "mcp", success: true });
    const recent = (await call("/stats")).body.recent_scenario_ops;
    expect(recent).toHaveLength(10);
    expect(recent.map((o: any) => o.endpoint)).toEqual(
      Array.from({ length: 10 }, (_, i) => `/scenario/${i + 2}`),
    );
  });

  it("accepts a batch with a result per event; only the valid ones are recorded", async () => {
    const before = (await call("/ops?source=workflow")).body.count;
    const r = await call("/events", {
      events: [
        { endpoint: "/w/1", source: "workflow", success: true },
        { endpoint: "", source: "workflow" },
        { endpoint: "/w/2", source: "workflow", success: false, error: "x" },
        { endpoint: "/w/3", source: "nope" },
      ],
    });
    expect(r.status).toBe(200);
    expect(r.body.accepted).toBe(2);
    expect(r.body.rejected).toBe(2);
    expect(r.body.results.map((x: any) => x.accepted)).toEqual([true, false, true, false]);
    expect(r.body.results[1].error.message).toMatch(/events\[1\]\.endpoint/);
    expect(r.body.results[3].error.message).toMatch(/events\[3\]\.source/);
    expect(typeof r.body.results[0].id).toBe("number");
    expect((await call("/ops?source=workflow")).body.count).toBe(before + 2);
    expect((await call("/events", { events: "no" })).status).toBe(400);
  });

  it("queries the durable log by source, success and time, with paging", async () => {
    await call("/event", {
      endpoint: "/old",
      source: "inbox",
      success: false,
      timestamp: "2020-01-01T00:00:00Z",
    });
    await call("/event", {
      endpoint: "/new",
      source: "inbox",
      success: true,
      timestamp: "2030-01-01T00:00:00Z",
    });
    const inbox = (await call("/ops?source=inbox")).body;
    expect(inbox.ops.map((o: any) => o.endpoint)).toEqual(["/old", "/new"]);
    expect(
      (await call("/ops?source=inbox&success=false")).body.ops.map((o: any) => o.endpoint),
    ).toEqual(["/old"]);
    expect(
      (await call("/ops?source=inbox&since=2025-01-01T00:00:00Z")).body.ops.map(
        (o: any) => o.endpoint,
      ),
    ).toEqual(["/new"]);
    const page1 = (await call("/ops?limit=3")).body;
    expect(page1.ops).toHaveLength(3);
    const page2 = (await call(`/ops?limit=3&after_id=${page1.next_after_id}`)).body;
    expect(page2.ops[0].id).toBeGreaterThan(page1.ops[2].id);
    for (const bad of ["source=x", "success=maybe", "since=soon", "limit=0", "after_id=-1"]) {
      const r = await call(`/ops?${bad}`);
      expect(r.status, bad).toBe(400);
      expect(r.body.error.message).toMatch(new RegExp(bad.split("=")[0]!));
      // The message names the parameter and its value (query.<name>: expected ..., got "<value>").
      expect(r.body.error.message).toMatch(
        new RegExp(`query\\.${bad.split("=")[0]!}: expected .*, got "${bad.split("=")[1]!}"$`),
      );
    }
  });

  it("refuses a body over [observerd].max_event_bytes with 413", async () => {
    const r = await call("/event", {
      endpoint: "/big",
      input_summary: "x".repeat(4 * 1024 * 1024),
    });
    expect(r.status).toBe(413);
    expect(r.body.error.message).toMatch(/max_event_bytes/);
  });

  it("health reports the ring size", async () => {
    const stats = (await call("/stats")).body;
    const h = (await call("/health")).body;
    expect(h).toMatchObject({ service: "observer", status: "ok", ring_size: stats.total });
  });
});

describe("the ring", () => {
  it("rolls over at the cap: evicts the oldest, keeps accepting, keeps counts right", () => {
    const ring = new Ring(3, 10);
    for (let i = 0; i < 5; i++)
      ring.push({
        timestamp: "t",
        endpoint: `/e${i}`,
        input_summary: "",
        output_summary: "",
        duration_ms: 0,
        success: i % 2 === 0,
        source: i < 2 ? "mcp" : "scenario",
      });
    expect(ring.length).toBe(3);
    expect(ring.toArray().map((o) => o.endpoint)).toEqual(["/e2", "/e3", "/e4"]);
    const s = ring.stats();
    expect(s).toMatchObject({ total: 3, successes: 2, failures: 1, by_source: { scenario: 3 } });
    expect(s.recent_scenario_ops.map((o) => o.endpoint)).toEqual(["/e2", "/e3", "/e4"]);
  });

  it("is rebuilt from the durable log when the object starts (the newest ring_cap ops, in order)", async () => {
    const stub = env.OBSERVER.get(env.OBSERVER.idFromName("round-trip"));
    for (let i = 0; i < 5; i++) {
      await stub.record([
        {
          op: {
            timestamp: new Date().toISOString(),
            endpoint: `/rt/${i}`,
            input_summary: "",
            output_summary: "",
            duration_ms: 1,
            success: i !== 3,
            source: "mcp",
          },
          ts_ms: Date.now(),
        },
      ]);
    }
    await runInDurableObject(stub, async (_instance: Observer, state) => {
      // A fresh object over the same storage, as after a restart, with a ring of 3.
      const fresh = new Observer(state, { ...env, LH_OBSERVERD_RING_CAP: "3" } as Env);
      const s = fresh.stats();
      expect(s.total).toBe(3);
      expect(s.failures).toBe(1);
      expect(fresh.queryOps({ limit: 10 }).ops).toHaveLength(5); // the log keeps everything; only the ring is capped
      const again = new Observer(state, env);
      expect(again.stats()).toMatchObject({ total: 5, successes: 4, failures: 1 });
    });
  });
});

describe("review", () => {
  const grounded = {
    response: "The warehouse in Chicago shipped forklifts on Monday.",
    source_content: "Monday: the Chicago warehouse shipped twelve forklifts.",
    grounding_stats: { supported_claims: 4, total_claims: 4 },
    model: "qwen3:8b",
    attempt: 1,
  };

  it("without an LLM, a deterministic heuristic over the grounding stats, marked heuristic", async () => {
    const accept = await call("/review", grounded);
    expect(accept.status).toBe(200);
    expect(accept.body).toMatchObject({ verdict: "accept", source: "heuristic" });
    expect(accept.body.notes).toMatch(/4 of 4 claims/);
    const reject = await call("/review", {
      ...grounded,
      grounding_stats: { supported_claims: 1, total_claims: 5 },
    });
    expect(reject.body).toMatchObject({ verdict: "reject", source: "heuristic" });
    const cycle = await call("/review", { ...grounded, grounding_stats: { grounded_ratio: 0.5 } });
    expect(cycle.body.verdict).toBe("cycle");
    const last = await call("/review", {
      ...grounded,
      grounding_stats: { grounded_ratio: 0.5 },
      attempt: 3,
    });
    expect(last.body.verdict).toBe("reject");
    const lexical = await call("/review", { ...grounded, grounding_stats: {} });
    expect(lexical.body.notes).toMatch(/content words/);
    expect((await call("/review", { ...grounded, response: 5 })).body.error.message).toMatch(
      /response/,
    );
    expect((await call("/review", { ...grounded, attempt: 0 })).body.error.message).toMatch(
      /attempt/,
    );
  });

  it("with an LLM configured, the LLM's verdict; LLM down, timing out or talking nonsense → heuristic with the reason", async () => {
    const llm = await call(
      "/review",
      { ...grounded, response: "It was WRONG, Denver." },
      llmEnv("fake-ok"),
    );
    expect(llm.body).toMatchObject({
      verdict: "reject",
      source: "llm",
      model: "fake-ok",
      confidence: 0.81,
    });
    const down = await call("/review", grounded, llmEnv("fake-down"));
    expect(down.body).toMatchObject({ verdict: "accept", source: "heuristic" });
    expect(down.body.llm_error).toMatch(/503/);
    const hang = await call(
      "/review",
      grounded,
      llmEnv("fake-hang", { LH_OBSERVERD_REVIEW_TIMEOUT_MS: "50" }),
    );
    expect(hang.body).toMatchObject({ source: "heuristic" });
    expect(hang.body.llm_error).toMatch(/timed out after 50 ms/);
    const garbage = await call("/review", grounded, llmEnv("fake-garbage"));
    expect(garbage.body).toMatchObject({ source: "heuristic" });
    expect(garbage.body.llm_error).toMatch(/no valid verdict/);
    const openai = await call(
      "/review",
      grounded,
      llmEnv("fake-ok", { LH_LLM_PROVIDER: "openai", LH_LLM_URL: "http://fake-llm.test/v1" }),
    );
    expect(openai.body).toMatchObject({ verdict: "accept", source: "llm" });
  });

  it("keeps every verdict with its input, newest first", async () => {
    const list = (await call("/reviews")).body;
    expect(list.count).toBe(10);
    expect(list.reviews[0]).toMatchObject({
      source: "llm",
      verdict: "accept",
      input: { response: grounded.response },
    });
    expect(list.reviews.filter((r: any) => r.source === "heuristic")).toHaveLength(8);
  });
});

describe("observer openapi.json", () => {
  it("lists every route the observer serves, with the schemas that validate them", async () => {
    const doc: any = await (await exports.default.fetch("http://x/observer/openapi.json")).json();
    const listed = Object.entries(doc.paths as Record<string, object>).flatMap(([path, item]) =>
      Object.keys(item).map((m) => `${m} ${path}`),
    );
    expect(listed.sort()).toEqual(
      [
        "post /observer/event",
        "post /observer/events",
        "get /observer/stats",
        "get /observer/ops",
        "post /observer/review",
        "post /observer/cycle",
        "get /observer/clusters",
        "get /observer/escalations",
        "get /observer/reviews",
        "get /observer/recommendations",
        "get /observer/cycles",
        "get /observer/playbooks",
      ].sort(),
    );
    // The event body is the ObservedOpInput schema that validates /event and each item of /events.
    expect(
      doc.paths["/observer/event"].post.requestBody.content["application/json"].schema.$ref,
    ).toBe("#/components/schemas/ObservedOpInput");
    const op = doc.components.schemas.ObservedOpInput;
    expect(op.required).toEqual(["endpoint"]);
    expect(Object.keys(op.properties)).toEqual(
      expect.arrayContaining([
        "timestamp",
        "endpoint",
        "success",
        "duration_ms",
        "source",
        "sig_hash",
        "rescue_succeeded",
      ]),
    );
    expect(JSON.stringify(doc.paths["/observer/events"].post.requestBody)).toContain(
      "#/components/schemas/ObservedOpInput",
    );
    expect(doc.paths["/observer/ops"].get.parameters.map((p: any) => p.name).sort()).toEqual([
      "after_id",
      "limit",
      "since",
      "source",
      "success",
      "until",
    ]);
    expect(
      doc.paths["/observer/review"].post.requestBody.content["application/json"].schema.$ref,
    ).toBe("#/components/schemas/ReviewInput");
    for (const list of [
      "clusters",
      "escalations",
      "reviews",
      "recommendations",
      "cycles",
      "playbooks",
    ]) {
      expect(
        doc.paths[`/observer/${list}`].get.parameters.map((p: any) => p.name),
        list,
      ).toEqual(["limit"]);
    }
  });

  it("keeps the hand-validated behaviour: any content type is read as JSON, empty or bad JSON is a 400 saying so, lists check limit", async () => {
    const plain = await exports.default.fetch("http://x/observer/event", {
      method: "POST",
      body: JSON.stringify({ endpoint: "/plain" }),
    });
    expect(plain.status).toBe(200);
    const typed = await exports.default.fetch("http://x/observer/event", {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify({ endpoint: "/text" }),
    });
    expect(typed.status).toBe(200);
    for (const path of ["/event", "/events", "/review"]) {
      const empty = await exports.default.fetch(`http://x/observer${path}`, { method: "POST" });
      expect(empty.status, path).toBe(400);
      expect(((await empty.json()) as any).error.message, path).toMatch(/request body is empty/);
      const broken = await exports.default.fetch(`http://x/observer${path}`, {
        method: "POST",
        body: "{nope",
      });
      expect(broken.status, path).toBe(400);
      expect(((await broken.json()) as any).error.message, path).toMatch(/not valid JSON/);
    }
    const tooMany = await call(
      "/events",
      Array.from({ length: 10_001 }, () => ({ endpoint: "/x" })),
    );
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.message).toMatch(/at most 10000 events per batch, got 10001/);
    expect((await call("/events", "no")).body.error.message).toMatch(
      /events: expected an array of events/,
    );
    expect((await call("/clusters?limit=0")).body.error.message).toMatch(
      /limit: expected a positive integer, got "0"/,
    );
    expect((await call("/playbooks?limit=x")).status).toBe(400);
    expect((await call("/reviews?limit=")).status).toBe(200);
    expect((await call("/ops?source=&success=")).status).toBe(200);
    expect((await call("/review", [1])).body.error.message).toMatch(
      /request body must be a JSON object/,
    );
  });
});
