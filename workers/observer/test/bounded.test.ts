// Issue #12, "trust nothing": the observer's memory is bounded whatever it is sent or holds.
// Per-field caps on an op (cut and marked), a ring bounded in bytes as well as count, a
// start-up that reads stored history newest-first only until the byte bound (capping rows an
// older version stored uncapped), deep JSON refused, bodies capped while read.

import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { truncateUtf8 } from "../../../shared/json-limits";
import type { ObservedOp } from "../../../shared/types";
import { Observer } from "../src/observer";
import { capOp, opBytes, Ring } from "../src/ops";

type Json = { status: number; body: any };

async function call(
  path: string,
  body?: string | unknown,
  headers: Record<string, string> = {},
): Promise<Json> {
  const init: RequestInit =
    body === undefined
      ? {}
      : {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: typeof body === "string" ? body : JSON.stringify(body),
        };
  const res = await exports.default.fetch(`http://x/observer${path}`, init);
  return { status: res.status, body: await res.json() };
}

const enc = new TextEncoder();
const bytes = (s: string) => enc.encode(s).length;
const op = (endpoint: string, summary = ""): ObservedOp => ({
  timestamp: "2026-01-01T00:00:00Z",
  endpoint,
  input_summary: summary,
  success: true,
  duration_ms: 0,
  output_summary: "",
});

describe("field caps", () => {
  it("truncateUtf8 keeps the cap in UTF-8 bytes, cuts on a character boundary, and says how much it cut", () => {
    expect(truncateUtf8("short", 100)).toBe("short");
    const cut = truncateUtf8("é".repeat(10_000), 4096); // 20,000 bytes
    expect(bytes(cut)).toBeLessThanOrEqual(4096);
    const m = /…\[truncated (\d+) bytes\]$/.exec(cut)!;
    expect(m).not.toBeNull();
    const kept = cut.slice(0, m.index);
    expect(kept).toMatch(/^é+$/);
    expect(bytes(kept) + Number(m[1])).toBe(20_000);
    expect(bytes(truncateUtf8("😀".repeat(1000), 300))).toBeLessThanOrEqual(300);
  });

  it("an event's fields are capped when recorded: summaries and error 4 KiB, endpoint 512 B, ids 256 B", async () => {
    const big = "x".repeat(1024 * 1024); // three of them: 3 MiB, under the 4 MiB body cap
    const r = await call("/event", {
      endpoint: `/v1/${"e".repeat(5000)}`,
      input_summary: big,
      output_summary: big,
      error: big,
      sig_hash: "s".repeat(1000),
      staffer_id: "i".repeat(1000),
      role: "r".repeat(1000),
    });
    expect(r.status).toBe(200);
    const stored = (await call(`/ops?after_id=${r.body.id - 1}&limit=1`)).body.ops[0];
    for (const f of ["input_summary", "output_summary", "error"]) {
      expect(bytes(stored[f]), f).toBeLessThanOrEqual(4096);
      expect(stored[f]).toMatch(/…\[truncated \d+ bytes\]$/);
    }
    expect(bytes(stored.endpoint)).toBeLessThanOrEqual(512);
    expect(stored.endpoint).toMatch(/^\/v1\/e+…\[truncated \d+ bytes\]$/);
    for (const f of ["sig_hash", "staffer_id", "role"])
      expect(bytes(stored[f]), f).toBeLessThanOrEqual(256);
    const stats = (await call("/stats")).body;
    expect(stats.ring_bytes).toBeLessThan(20_000);
  });

  it("capOp drops unknown fields and leaves a small op as it is", () => {
    const small = op("/x", "hello");
    expect(capOp(small, 4096)).toBe(small);
    const odd = { ...op("/x"), junk: "y".repeat(1000) } as unknown as ObservedOp;
    expect(capOp(odd, 4096)).not.toHaveProperty("junk");
  });

  it("a timestamp longer than 64 characters is a 400", async () => {
    const r = await call("/event", {
      endpoint: "/x",
      timestamp: `2026-01-01T00:00:00Z${" ".repeat(100)}`,
    });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(/timestamp/);
  });
});

describe("the ring's byte bound", () => {
  it("holds the newest ops that fit both the count and the byte bound", () => {
    const one = opBytes(op("/a", "z".repeat(1000)));
    const ring = new Ring(100, 10, one * 5 + 10);
    for (let i = 0; i < 20; i++) ring.push(op(`/a`, "z".repeat(1000)));
    expect(ring.length).toBe(5);
    expect(ring.bytes).toBeLessThanOrEqual(one * 5 + 10);
    const counted = new Ring(3, 10, 1 << 30);
    for (let i = 0; i < 10; i++) counted.push(op(`/${i}`));
    expect(counted.toArray().map((o) => o.endpoint)).toEqual(["/7", "/8", "/9"]);
    // An op bigger than the whole bound is still kept alone (the newest is never dropped).
    const tiny = new Ring(10, 10, 10);
    tiny.push(op("/big", "q".repeat(100)));
    expect(tiny.length).toBe(1);
  });

  it("start-up reads stored history newest-first only until the byte bound, capping uncapped rows of an older version", async () => {
    const stub = env.OBSERVER.get(env.OBSERVER.idFromName("default"));
    await runInDurableObject(stub, async (_instance: Observer, state) => {
      // 40 rows of ~3 MiB each, written the way an uncapped older version stored them (120 MiB).
      const huge = "h".repeat(3 * 1024 * 1024);
      for (let i = 0; i < 40; i++) {
        const o = { ...op(`/old/${i}`), input_summary: huge, output_summary: "", error: "" };
        state.storage.sql.exec(
          "INSERT INTO ops (ts_ms, source, success, endpoint, op) VALUES (?, ?, ?, ?, ?)",
          Date.now(),
          "mcp",
          1,
          o.endpoint,
          JSON.stringify(o),
        );
      }
      const maxBytes = 64 * 1024;
      const fresh = new Observer(state, {
        ...env,
        LH_OBSERVERD_RING_MAX_BYTES: String(maxBytes),
      } as Env);
      const rb = fresh.ringBytes();
      expect(rb.ring_bytes).toBeLessThanOrEqual(maxBytes);
      expect(rb.ring_max_bytes).toBe(maxBytes);
      expect(rb.ring_size).toBeGreaterThan(0);
      const s = fresh.stats();
      expect(s.ring_bytes).toBe(rb.ring_bytes);
      // The newest rows, capped as read.
      const page = fresh.queryOps({ limit: 1000, after_id: 0 });
      const last = page.ops[page.ops.length - 1]!;
      expect(last.endpoint).toBe("/old/39");
      expect(bytes(last.input_summary)).toBeLessThanOrEqual(4096);
      expect(last.input_summary).toMatch(/…\[truncated \d+ bytes\]$/);
      // With the default bound (16 MiB) the whole ring of capped rows fits.
      const dflt = new Observer(state, env);
      expect(dflt.ringBytes().ring_bytes).toBeLessThanOrEqual(16 * 1024 * 1024);
      // The analysis folds the huge rows a slice at a time.
      const a = dflt.analyse(5000, 3);
      expect(a.processed).toBeGreaterThanOrEqual(40);
    });
    expect((await call("/health")).status).toBe(200);
  });
});

describe("bodies", () => {
  it("deeply nested JSON is a 400 naming the depth limit, on /event and /events", async () => {
    const deep = `{"endpoint":"/x","extra":${"[".repeat(10_000)}${"]".repeat(10_000)}}`;
    for (const path of ["/event", "/events"]) {
      const r = await call(path, path === "/events" ? `[${deep}]` : deep);
      expect(r.status, path).toBe(400);
      expect(r.body.error.message).toMatch(/depth limit of 64/);
    }
    // Very deep (beyond what a recursive parser survives) is a 400 too, never a 500.
    const r = await call("/event", `${"[".repeat(200_000)}${"]".repeat(200_000)}`);
    expect(r.status).toBe(400);
  });

  it("a body over [observerd].max_event_bytes is a 413 while read, without a Content-Length too", async () => {
    const cap = 4 * 1024 * 1024;
    const big = JSON.stringify({ endpoint: "/x", input_summary: "a".repeat(cap) });
    const r = await call("/event", big);
    expect(r.status).toBe(413);
    const stream = new ReadableStream<Uint8Array>({
      start(ctrl) {
        for (let i = 0; i < 5; i++) ctrl.enqueue(enc.encode("a".repeat(1024 * 1024)));
        ctrl.close();
      },
    });
    const res = await exports.default.fetch("http://x/observer/events", {
      method: "POST",
      body: stream,
      headers: { "content-type": "application/json" },
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(((await res.json()) as any).error.code).toBe("payload_too_large");
  });

  it("a batch: at most 10000 events, and its bytes within the same cap", async () => {
    const r = await call(
      "/events",
      Array.from({ length: 10_001 }, () => ({ endpoint: "/x" })),
    );
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(/at most 10000 events/);
  });
});
