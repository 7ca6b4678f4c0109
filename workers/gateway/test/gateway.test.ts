import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { forward } from "../src/proxy";

const gateway = exports.default as { fetch(input: string, init?: RequestInit): Promise<Response> };

describe("gateway", () => {
  it("aggregates every service's health", async () => {
    const res = await gateway.fetch("http://gw/v1/health");
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; services: Record<string, string> };
    expect(body.status).toBe("ok");
    expect(Object.keys(body.services).sort()).toEqual(
      ["catalog", "embed", "ingest", "matrix", "mcp", "observer", "pathway", "query", "storage", "vectors"],
    );
    expect(Object.values(body.services).every((s) => s === "ok")).toBe(true);
  });

  it("forwards /v1/<family>/* with /v1 stripped and echoes the request id", async () => {
    const res = await gateway.fetch("http://gw/v1/sql/health", { headers: { "X-Request-Id": "req-123" } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ service: "query", status: "ok" });
    expect(res.headers.get("X-Request-Id")).toBe("req-123");
    const generated = await gateway.fetch("http://gw/v1/storage/health");
    expect(generated.headers.get("X-Request-Id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("answers unknown paths with 404 in the one JSON error shape", async () => {
    for (const path of ["/v1/nope/x", "/nothing", "/v1/storage/no-such-route"]) {
      const res = await gateway.fetch(`http://gw${path}`);
      expect(res.status, path).toBe(404);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("not_found");
      expect(body.error.message.length).toBeGreaterThan(0);
    }
  });

  it("rejects a body over the family cap with 413 from the declared length", async () => {
    // [gateway.body_caps].sql is 1 MiB; the declared length alone decides.
    const res = await gateway.fetch("http://gw/v1/sql", {
      method: "POST",
      headers: { "content-length": String(2 * 1024 * 1024), "content-type": "application/json" },
      body: "x".repeat(2 * 1024 * 1024),
    });
    expect(res.status).toBe(413);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("payload_too_large");
    expect(body.error.message).toMatch(/sql cap of 1048576 bytes/);
  });
});

describe("forward", () => {
  const options = { cap: 1024, timeoutMs: 1000, requestId: "r1" };

  it("turns a failing upstream into 502 naming the family", async () => {
    const broken = { fetch: () => Promise.reject(new Error("connection reset")) } as unknown as Fetcher;
    await expect(forward(new Request("http://gw/v1/pathway/add"), broken, "pathway", options)).rejects.toMatchObject({
      status: 502,
      message: "pathway service failed: connection reset",
    });
  });

  it("turns a silent upstream into 504", async () => {
    const silent = { fetch: (_u: string, init: RequestInit) => new Promise((_, reject) => init.signal?.addEventListener("abort", () => reject(new Error("aborted")))) } as unknown as Fetcher;
    await expect(forward(new Request("http://gw/v1/matrix/search"), silent, "matrix", { ...options, timeoutMs: 50 })).rejects.toMatchObject({
      status: 504,
    });
  });

  it("strips /v1 and the caller's Authorization before the service sees the request", async () => {
    let seen: Request | undefined;
    const echo = { fetch: (url: string, init: RequestInit) => ((seen = new Request(url, init)), Promise.resolve(new Response("ok"))) } as unknown as Fetcher;
    await forward(new Request("http://gw/v1/storage/objects/a/b?x=1", { headers: { Authorization: "Bearer s" } }), echo, "storage", options);
    expect(new URL(seen!.url).pathname + new URL(seen!.url).search).toBe("/storage/objects/a/b?x=1");
    expect(seen!.headers.get("authorization")).toBeNull();
    expect(seen!.headers.get("x-request-id")).toBe("r1");
  });
});
