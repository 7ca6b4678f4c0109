import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { observerShardOf } from "../../../shared/observer-shards";
import { OBSERVER_OBJECTS, observerEvent } from "../src/observer-event";
import { forward } from "../src/proxy";

const gateway = exports.default as { fetch(input: string, init?: RequestInit): Promise<Response> };

describe("gateway", () => {
  it("aggregates every service's health", async () => {
    const res = await gateway.fetch("http://gw/v1/health");
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; services: Record<string, string> };
    expect(body.status).toBe("ok");
    expect(Object.keys(body.services).sort()).toEqual([
      "catalog",
      "embed",
      "ingest",
      "matrix",
      "mcp",
      "observer",
      "pathway",
      "query",
      "storage",
      "vectors",
    ]);
    expect(Object.values(body.services).every((s) => s === "ok")).toBe(true);
  });

  it("forwards /v1/<family>/* with /v1 stripped and echoes the request id", async () => {
    const res = await gateway.fetch("http://gw/v1/sql/health", {
      headers: { "X-Request-Id": "req-123" },
    });
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
    const broken = {
      fetch: () => Promise.reject(new Error("connection reset")),
    } as unknown as Fetcher;
    await expect(
      forward(new Request("http://gw/v1/pathway/add"), broken, "pathway", options),
    ).rejects.toMatchObject({
      status: 502,
      message: "pathway service failed: connection reset",
    });
  });

  it("turns a silent upstream into 504", async () => {
    const silent = {
      fetch: (_u: string, init: RequestInit) =>
        new Promise((_, reject) =>
          init.signal?.addEventListener("abort", () => reject(new Error("aborted"))),
        ),
    } as unknown as Fetcher;
    await expect(
      forward(new Request("http://gw/v1/matrix/search"), silent, "matrix", {
        ...options,
        timeoutMs: 50,
      }),
    ).rejects.toMatchObject({
      status: 504,
    });
  });

  it("strips /v1 and the caller's Authorization before the service sees the request", async () => {
    let seen: Request | undefined;
    const echo = {
      fetch: (url: string, init: RequestInit) => (
        (seen = new Request(url, init)), Promise.resolve(new Response("ok"))
      ),
    } as unknown as Fetcher;
    await forward(
      new Request("http://gw/v1/storage/objects/a/b?x=1", {
        headers: { Authorization: "Bearer s" },
      }),
      echo,
      "storage",
      options,
    );
    expect(new URL(seen!.url).pathname + new URL(seen!.url).search).toBe(
      "/storage/objects/a/b?x=1",
    );
    expect(seen!.headers.get("authorization")).toBeNull();
    expect(seen!.headers.get("x-request-id")).toBe("r1");
  });
});

// POST /v1/observer/event goes straight to the request's Observer object (issue #15); every other
// observer route still goes through the observer Worker. Same answers as the observer Worker's
// own /event route, which calls the same Observer.event.
describe("POST /v1/observer/event, straight to the Observer object", () => {
  const objects = (env as unknown as Record<string, DurableObjectNamespace>)[OBSERVER_OBJECTS]!;
  const viaWorker = (init: RequestInit) =>
    (env as unknown as { OBSERVER: Fetcher }).OBSERVER.fetch(
      "https://observer.internal/observer/event",
      init,
    );
  const viaGateway = (init: RequestInit) => gateway.fetch("http://gw/v1/observer/event", init);
  const chunked = (text: string) =>
    new ReadableStream<Uint8Array>({
      start(c) {
        const bytes = new TextEncoder().encode(text);
        for (let i = 0; i < bytes.length; i += 64 * 1024) c.enqueue(bytes.slice(i, i + 64 * 1024));
        c.close();
      },
    });

  it("is bound to the gateway, and answers exactly as the observer Worker's route does", async () => {
    expect(objects).toBeDefined();
    const deep = "[".repeat(70) + "]".repeat(70);
    const cases: [string, () => RequestInit][] = [
      [
        "valid",
        () => ({
          method: "POST",
          body: JSON.stringify({ endpoint: "/v1/sql", success: true, source: "scenario" }),
        }),
      ],
      ["no endpoint", () => ({ method: "POST", body: JSON.stringify({ success: true }) })],
      ["empty endpoint", () => ({ method: "POST", body: JSON.stringify({ endpoint: " " }) })],
      [
        "bad source",
        () => ({ method: "POST", body: JSON.stringify({ endpoint: "/x", source: "nope" }) }),
      ],
      [
        "bad timestamp",
        () => ({
          method: "POST",
          body: JSON.stringify({ endpoint: "/x", timestamp: "yesterday" }),
        }),
      ],
      [
        "wrong type",
        () => ({ method: "POST", body: JSON.stringify({ endpoint: "/x", success: "yes" }) }),
      ],
      ["array", () => ({ method: "POST", body: "[1]" })],
      ["not JSON", () => ({ method: "POST", body: "{nope" })],
      ["empty", () => ({ method: "POST", body: "" })],
      ["no body", () => ({ method: "POST" })],
      ["too deep", () => ({ method: "POST", body: deep })],
      [
        "text/plain",
        () => ({
          method: "POST",
          headers: { "content-type": "text/plain" },
          body: JSON.stringify({ endpoint: "/t" }),
        }),
      ],
      [
        "chunked",
        () => ({
          method: "POST",
          body: chunked(
            JSON.stringify({ endpoint: "/chunked", input_summary: "y".repeat(200_000) }),
          ),
        }),
      ],
    ];
    for (const [name, init] of cases) {
      const [a, b] = [await viaGateway(init()), await viaWorker(init())];
      expect(a.status, name).toBe(b.status);
      expect(a.headers.get("content-type"), name).toBe(b.headers.get("content-type"));
      const [x, y] = [
        (await a.json()) as Record<string, unknown>,
        (await b.json()) as Record<string, unknown>,
      ];
      if (a.status === 200) {
        expect(Object.keys(x), name).toEqual(["accepted", "ring_size", "id"]);
        expect(x.accepted).toBe(true);
        expect((x.id as number) % 32, name).toBe(0); // one shard here: shard 0
        expect(x.id).not.toBe(y.id);
      } else {
        expect(x, name).toEqual(y);
      }
    }
  });

  it("keeps the request id, and the op is in the log the observer Worker reads", async () => {
    const res = await viaGateway({
      method: "POST",
      headers: { "X-Request-Id": "direct-1" },
      body: JSON.stringify({ endpoint: "/direct/one", source: "inbox" }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("X-Request-Id")).toBe("direct-1");
    const { id } = (await res.json()) as { id: number };
    const ops = (await (
      await gateway.fetch("http://gw/v1/observer/ops?source=inbox&limit=1000")
    ).json()) as { ops: { id: number; endpoint: string }[] };
    expect(ops.ops.find((o) => o.id === id)?.endpoint).toBe("/direct/one");
  });

  it("over [gateway.body_caps].observer: 413 from the declared length, and from a chunked body as it passes the cap", async () => {
    const big = JSON.stringify({ endpoint: "/big", input_summary: "x".repeat(4 * 1024 * 1024) });
    for (const init of [
      { method: "POST", body: big },
      { method: "POST", body: chunked(big) },
    ]) {
      const res = await viaGateway(init);
      expect(res.status).toBe(413);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("payload_too_large");
      expect(body.error.message).toMatch(
        /observer cap of 4194304 bytes \(\[gateway\.body_caps\]\.observer\)/,
      );
    }
  });

  it("picks the shard as the observer Worker does, and the object records the span before the shard's first write", async () => {
    for (const requestId of ["span-a", "span-b", "span-c", "span-d", "span-e", "span-f"]) {
      const res = await observerEvent(
        new Request("http://gw/v1/observer/event", {
          method: "POST",
          body: JSON.stringify({ endpoint: `/span/${requestId}`, source: "workflow" }),
        }),
        objects,
        { cap: 1024, timeoutMs: 5000, requestId, shards: 4 },
      );
      expect(res.status).toBe(200);
      const { id } = (await res.json()) as { id: number };
      expect(id % 32, requestId).toBe(observerShardOf(requestId, 4));
    }
    // The observer Worker runs with shards = 1; the span shard 0 recorded makes it read all four.
    const ops = (await (
      await gateway.fetch("http://gw/v1/observer/ops?source=workflow&limit=1000")
    ).json()) as { ops: { id: number; endpoint: string }[] };
    expect(ops.ops.filter((o) => o.endpoint.startsWith("/span/")).length).toBe(6);
    expect(new Set(ops.ops.map((o) => o.id % 32)).size).toBeGreaterThan(1);
  });

  it("answers 504 when the object does not answer within [gateway].upstream_timeout_ms", async () => {
    const silent = {
      idFromName: () => ({}),
      get: () => ({ event: () => new Promise(() => {}) }),
    } as unknown as DurableObjectNamespace;
    await expect(
      observerEvent(
        new Request("http://gw/v1/observer/event", { method: "POST", body: "{}" }),
        silent,
        { cap: 1024, timeoutMs: 50, requestId: "r", shards: 1 },
      ),
    ).rejects.toMatchObject({
      status: 504,
      message: "observer service did not answer within 50 ms",
    });
  });
});
