// Issue #12: deeply nested JSON is refused (400 naming the depth limit) before it is stored,
// and a body is capped in bytes by the service itself (service bindings bypass the gateway).
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

async function post(path: string, body: string): Promise<{ status: number; body: any }> {
  const res = await exports.default.fetch(`http://x/pathway${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
  return { status: res.status, body: await res.json() };
}

const nest = (depth: number) => `${"[".repeat(depth)}1${"]".repeat(depth)}`;

describe("bounded pathway input", () => {
  it("content nested deeper than 64 is a 400 naming the depth limit on every write route; nothing is stored", async () => {
    for (const [path, body] of [
      ["/add", `{"uid":"deep-1","content":${nest(100)}}`],
      ["/add_idempotent", `{"uid":"deep-2","content":${nest(100)}}`],
      ["/update", `{"uid":"deep-3","content":${nest(100)}}`],
      ["/revise", `{"predecessor_uid":"deep-4","content":${nest(100)}}`],
      ["/add", `{"uid":"deep-5","content":${nest(500_000)}}`],
    ] as const) {
      const r = await post(path, body);
      expect(r.status, path).toBe(400);
      expect(r.body.error.message).toMatch(/depth limit of 64/);
    }
    expect(
      (await (await exports.default.fetch("http://x/pathway/stats")).json()) as any,
    ).toMatchObject({ total: 0 });
    // Nesting within the limit is stored as given.
    const ok = await post("/add", `{"uid":"ok-1","content":${nest(60)},"tags":["t"]}`);
    expect(ok.status).toBe(200);
  });

  it("a body over the pathway body cap is a 413 while read, with or without a Content-Length", async () => {
    const big = JSON.stringify({ uid: "big", content: "x".repeat(5 * 1024 * 1024 + 10) }); // over max_content_bytes + 1 MiB of envelope
    expect((await post("/add", big)).status).toBe(413);
    const stream = new ReadableStream<Uint8Array>({
      start(ctrl) {
        for (let i = 0; i < 6; i++) ctrl.enqueue(new TextEncoder().encode("x".repeat(1024 * 1024)));
        ctrl.close();
      },
    });
    const res = await exports.default.fetch("http://x/pathway/add", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: stream,
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as any).error.code).toBe("payload_too_large");
  });
});
