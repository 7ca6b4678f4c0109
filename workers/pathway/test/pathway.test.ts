// The pathway service through its HTTP routes, with the real PathwayMemory Durable Object.
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

async function call(path: string, json?: unknown): Promise<{ status: number; body: any }> {
  const res = await exports.default.fetch(
    `http://x/pathway${path}`,
    json === undefined
      ? {}
      : {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(json),
        },
  );
  return { status: res.status, body: await res.json() };
}

describe("pathway memory", () => {
  it("adds any JSON content, gets it back, and refuses a second add of the same uid", async () => {
    const content = { steps: ["ingest", "query"], score: 0.9, nested: { ok: true } };
    const added = await call("/add", { uid: "t-1", content, tags: ["etl", "people"] });
    expect(added.status).toBe(200);
    expect(added.body).toMatchObject({
      uid: "t-1",
      content,
      retired: false,
      replay_count: 0,
      tags: ["etl", "people"],
    });
    expect(BigInt(added.body.created_at_ns)).toBeGreaterThan(1_600_000_000_000_000_000n);
    const got = await call("/get/t-1");
    expect(got.body).toEqual(added.body);
    const again = await call("/add", { uid: "t-1", content: "other" });
    expect(again.status).toBe(409);
    expect(again.body.error.message).toContain("t-1");
    const generated = await call("/add", { content: [1, 2, 3] });
    expect(generated.body.uid).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("add_idempotent bumps replay_count and leaves the content unchanged", async () => {
    const first = await call("/add_idempotent", { uid: "idem", content: { v: 1 } });
    expect(first.body).toMatchObject({ uid: "idem", replay_count: 0, replayed: false });
    const second = await call("/add_idempotent", { uid: "idem", content: { v: 2 } });
    expect(second.body).toMatchObject({
      uid: "idem",
      replay_count: 1,
      replayed: true,
      content: { v: 1 },
    });
    await call("/add_idempotent", { uid: "idem", content: { v: 3 } });
    expect((await call("/get/idem")).body).toMatchObject({ replay_count: 2, content: { v: 1 } });
  });

  it("update replaces content and tags; revise links a new trace to its predecessor; history walks back", async () => {
    await call("/add", { uid: "plan-v1", content: "first plan", tags: ["plan"] });
    const updated = await call("/update", { uid: "plan-v1", content: "first plan, corrected" });
    expect(updated.body.content).toBe("first plan, corrected");
    expect(BigInt(updated.body.updated_at_ns)).toBeGreaterThan(BigInt(updated.body.created_at_ns));
    const v2 = await call("/revise", {
      predecessor_uid: "plan-v1",
      uid: "plan-v2",
      content: "second plan",
    });
    expect(v2.body).toMatchObject({ uid: "plan-v2", predecessor_uid: "plan-v1" });
    const v3 = await call("/revise", { predecessor_uid: "plan-v2", content: "third plan" });
    const history = await call(`/history/${v3.body.uid}`);
    expect(history.body.traces.map((t: any) => t.content)).toEqual([
      "third plan",
      "second plan",
      "first plan, corrected",
    ]);
    expect(history.body.complete).toBe(true);
    expect((await call("/revise", { predecessor_uid: "nope", content: 1 })).status).toBe(404);
    expect((await call("/update", { uid: "nope", content: 1 })).status).toBe(404);
  });

  it("history ends cleanly at a cycle and at a missing predecessor", async () => {
    // a → b (missing at first: a gap), then b → a closes a cycle.
    await call("/add", { uid: "cyc-a", content: "a", predecessor_uid: "cyc-b" });
    const gap = await call("/history/cyc-a");
    expect(gap.body).toMatchObject({
      complete: false,
      stopped: "missing_predecessor",
      missing_uid: "cyc-b",
    });
    await call("/add", { uid: "cyc-b", content: "b", predecessor_uid: "cyc-a" });
    const cycle = await call("/history/cyc-a");
    expect(cycle.status).toBe(200);
    expect(cycle.body.traces.map((t: any) => t.uid)).toEqual(["cyc-a", "cyc-b"]);
    expect(cycle.body).toMatchObject({ complete: false, stopped: "cycle" });
    expect((await call("/history/absent")).status).toBe(404);
  });

  it("retire hides a trace from search but keeps it gettable; search filters by tags, text, limit", async () => {
    await call("/add", {
      uid: "s-1",
      content: { note: "Chicago forklift shift" },
      tags: ["staffing", "il"],
    });
    await call("/add", {
      uid: "s-2",
      content: { note: "Denver forklift shift" },
      tags: ["staffing", "co"],
    });
    await call("/add", { uid: "s-3", content: { note: "payroll export" }, tags: ["finance"] });
    const byTag = await call("/search", { tags: ["staffing"] });
    expect(byTag.body.traces.map((t: any) => t.uid)).toEqual(["s-2", "s-1"]);
    expect(
      (await call("/search", { tags: ["staffing", "il"] })).body.traces.map((t: any) => t.uid),
    ).toEqual(["s-1"]);
    expect((await call("/search", { text: "FORKLIFT" })).body.count).toBe(2);
    expect(
      (await call("/search", { text: "forklift", limit: 1 })).body.traces.map((t: any) => t.uid),
    ).toEqual(["s-2"]);

    const retired = await call("/retire", { uid: "s-2" });
    expect(retired.body.retired).toBe(true);
    expect(
      (await call("/search", { text: "forklift" })).body.traces.map((t: any) => t.uid),
    ).toEqual(["s-1"]);
    expect((await call("/search", { text: "forklift", include_retired: true })).body.count).toBe(2);
    expect((await call("/get/s-2")).body).toMatchObject({ uid: "s-2", retired: true });
    expect((await call("/retire", { uid: "nope" })).status).toBe(404);
  });

  it("stats count total, active and retired", async () => {
    const stats = await call("/stats");
    expect(stats.body.total).toBe(stats.body.active + stats.body.retired);
    expect(stats.body.retired).toBe(1);
    const before = stats.body.total;
    await call("/add", { content: "one more" });
    await call("/retire", { uid: "s-1" });
    expect((await call("/stats")).body).toEqual({
      total: before + 1,
      active: before + 1 - 2,
      retired: 2,
    });
  });

  it("rejects bad input with a message naming the field, and content over the cap with 413", async () => {
    const cases: [string, unknown, RegExp][] = [
      ["/add", { uid: "x" }, /content/],
      ["/add", { uid: "", content: 1 }, /uid/],
      ["/add", { content: 1, tags: "a" }, /tags/],
      ["/add", { content: 1, tags: ["ok", 3] }, /tags\[1\]/],
      ["/add_idempotent", { content: 1 }, /uid/],
      ["/revise", { content: 1 }, /predecessor_uid/],
      ["/update", { uid: "t-1" }, /content or tags/],
      ["/retire", {}, /uid/],
      ["/search", { limit: 0 }, /limit/],
      ["/search", { text: 5 }, /text/],
    ];
    for (const [path, body, re] of cases) {
      const r = await call(path, body);
      expect(r.status, `${path} ${JSON.stringify(body)}`).toBe(400);
      expect(r.body.error.code).toBe("bad_request");
      expect(r.body.error.message).toMatch(re);
    }
    const big = await call("/add", { content: "x".repeat(4 * 1024 * 1024) });
    expect(big.status).toBe(413);
    expect(big.body.error.message).toMatch(/content/);
    const notJson = await exports.default.fetch("http://x/pathway/add", {
      method: "POST",
      body: "{nope",
    });
    expect(notJson.status).toBe(400);
  });
});

describe("pathway openapi.json", () => {
  it("lists every route the service serves, generated from its route schemas", async () => {
    const doc: any = await (await exports.default.fetch("http://x/pathway/openapi.json")).json();
    const routes: [string, string][] = [
      ["post", "/pathway/add"],
      ["post", "/pathway/add_idempotent"],
      ["post", "/pathway/update"],
      ["post", "/pathway/revise"],
      ["post", "/pathway/retire"],
      ["get", "/pathway/get/{uid}"],
      ["get", "/pathway/history/{uid}"],
      ["post", "/pathway/search"],
      ["get", "/pathway/stats"],
    ];
    for (const [method, path] of routes)
      expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();
    expect(
      doc.paths["/pathway/add"].post.requestBody.content["application/json"].schema.properties.uid,
    ).toBeDefined();
  });
});
