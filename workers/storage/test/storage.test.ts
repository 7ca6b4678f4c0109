// The storage Worker inside workerd over a real local R2 bucket: objects with Range,
// ETag and If-None-Match; list with prefix, cursor and limit; multipart; key rules;
// size caps from the declared length; bodies with no declared length.
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { BODY_CAP_HEADER } from "../../../shared/body-cap";
import storageApp from "../src/index";
import { keyProblem } from "../src/keys";
import { PART_BYTES } from "../src/put-stream";

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

function call(path: string, init?: RequestInit): Promise<Response> {
  return exports.default.fetch(`http://x/storage${path}`, init);
}

/** A body with no declared length (chunked), as a Worker's stream arrives. */
function chunked(bytes: Uint8Array, chunk = 1 << 20): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.slice(at, at + chunk));
      at += chunk;
    },
  });
}

describe("objects", () => {
  it("PUT → {key,size,etag}; GET returns the bytes with ETag; HEAD the length; DELETE is idempotent", async () => {
    const put = await call("/objects/a/b/hello.txt", {
      method: "PUT",
      body: "hello world",
      headers: { "content-type": "text/plain" },
    });
    expect(put.status).toBe(200);
    const meta = (await put.json()) as Json;
    expect(meta).toMatchObject({ key: "a/b/hello.txt", size: 11 });
    expect(meta.etag).toMatch(/^[0-9a-f]{32}$/);

    const get = await call("/objects/a/b/hello.txt");
    expect(get.status).toBe(200);
    expect(await get.text()).toBe("hello world");
    expect(get.headers.get("etag")).toBe(`"${meta.etag}"`);
    expect(get.headers.get("content-type")).toBe("text/plain");

    const head = await call("/objects/a/b/hello.txt", { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe("11");

    const notModified = await call("/objects/a/b/hello.txt", {
      headers: { "if-none-match": `"${meta.etag}"` },
    });
    expect(notModified.status).toBe(304);
    const modified = await call("/objects/a/b/hello.txt", {
      headers: { "if-none-match": '"other"' },
    });
    expect(modified.status).toBe(200);
    await modified.body?.cancel();

    expect((await call("/objects/a/b/hello.txt", { method: "DELETE" })).status).toBe(204);
    expect((await call("/objects/a/b/hello.txt", { method: "DELETE" })).status).toBe(204);
    const gone = await call("/objects/a/b/hello.txt");
    expect(gone.status).toBe(404);
    const body = (await gone.json()) as Json;
    expect(body.error.code).toBe("not_found");
    expect(body.error.message).toContain('"a/b/hello.txt"');
  });

  it("honours Range: start-end, open end, suffix; 416 outside the object", async () => {
    await call("/objects/range.bin", { method: "PUT", body: "0123456789" });
    const cases: [string, string, string][] = [
      ["bytes=2-5", "2345", "bytes 2-5/10"],
      ["bytes=7-", "789", "bytes 7-9/10"],
      ["bytes=-3", "789", "bytes 7-9/10"],
      ["bytes=8-100", "89", "bytes 8-9/10"],
    ];
    for (const [range, text, contentRange] of cases) {
      const res = await call("/objects/range.bin", { headers: { range } });
      expect(res.status, range).toBe(206);
      expect(await res.text(), range).toBe(text);
      expect(res.headers.get("content-range"), range).toBe(contentRange);
    }
    const bad = await call("/objects/range.bin", { headers: { range: "bytes=20-30" } });
    expect(bad.status).toBe(416);
    expect(((await bad.json()) as Json).error.message).toMatch(
      /outside object "range.bin" of 10 bytes/,
    );
  });

  it("takes a body with no declared length, small (one put) and above one part (multipart)", async () => {
    const small = new TextEncoder().encode("streamed without a length");
    const a = await call("/objects/chunked/small", {
      method: "PUT",
      body: chunked(small, 5),
      duplex: "half",
    } as RequestInit);
    expect(a.status).toBe(200);
    expect(((await a.json()) as Json).size).toBe(small.byteLength);
    expect(await (await call("/objects/chunked/small")).text()).toBe("streamed without a length");

    const big = new Uint8Array(PART_BYTES * 2 + 12345);
    for (let i = 0; i < big.length; i++) big[i] = i % 251;
    const b = await call("/objects/chunked/big", {
      method: "PUT",
      body: chunked(big),
      duplex: "half",
    } as RequestInit);
    expect(b.status).toBe(200);
    expect(((await b.json()) as Json).size).toBe(big.byteLength);
    const back = new Uint8Array(await (await call("/objects/chunked/big")).arrayBuffer());
    expect(back.byteLength).toBe(big.byteLength);
    expect(back[PART_BYTES + 7]).toBe(big[PART_BYTES + 7]);
    expect(back[big.length - 1]).toBe(big[big.length - 1]);
  });

  it("413 from the declared length before reading, per prefix (256 MiB default, 4 GiB under _vectors/)", async () => {
    const over = 256 * 1024 * 1024 + 1;
    // The declared length is checked first: the tiny stream behind it is never read.
    const res = await call("/objects/big/file.bin", {
      method: "PUT",
      headers: { "content-length": String(over) },
      body: chunked(new Uint8Array(1)),
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(413);
    const body = (await res.json()) as Json;
    expect(body.error.code).toBe("payload_too_large");
    expect(body.error.message).toMatch(/268435457 bytes exceeds the cap of 268435456 bytes/);
    const vec = await call("/objects/_vectors/idx/file.bin", {
      method: "PUT",
      headers: { "content-length": String(4 * 1024 * 1024 * 1024 + 1) },
      body: chunked(new Uint8Array(1)),
      duplex: "half",
    } as RequestInit);
    expect(vec.status).toBe(413);
    expect(((await vec.json()) as Json).error.message).toMatch(/cap of 4294967296 bytes/);
    expect((await call("/objects/big/file.bin")).status).toBe(404);
  });
});

describe("a body of no declared length is stored whole or not at all", () => {
  const ctx = {
    waitUntil() {},
    passThroughOnException() {},
    props: {},
  } as unknown as ExecutionContext;
  /** The storage app with [storaged] overrides, as LH_* vars would give it. */
  async function withVars(
    vars: Record<string, string>,
    path: string,
    init: RequestInit,
  ): Promise<Response> {
    return storageApp.fetch(
      new Request(`http://x/storage${path}`, init),
      { ...env, ...vars } as never,
      ctx,
    );
  }
  const bytes = (n: number) => new Uint8Array(n).fill(7);

  it("over [storaged].max_put_bytes → 413 naming the cap and its key; no object, on the one-put and the multipart path", async () => {
    const small = await withVars({ LH_STORAGED_MAX_PUT_BYTES: "1000" }, "/objects/cut/small", {
      method: "PUT",
      body: chunked(bytes(5000), 700),
      duplex: "half",
    } as RequestInit);
    expect(small.status).toBe(413);
    expect(((await small.json()) as Json).error.message).toMatch(
      /cap of 1000 bytes \(\[storaged\]\.max_put_bytes\)/,
    );
    expect(await env.LAKE.head("cut/small")).toBeNull();
    const cap = PART_BYTES + 100;
    const big = await withVars({ LH_STORAGED_MAX_PUT_BYTES: String(cap) }, "/objects/cut/big", {
      method: "PUT",
      body: chunked(bytes(PART_BYTES * 2)),
      duplex: "half",
    } as RequestInit);
    expect(big.status).toBe(413);
    expect(await env.LAKE.head("cut/big")).toBeNull();
    // Exactly the cap is fine.
    const exact = await withVars({ LH_STORAGED_MAX_PUT_BYTES: "1000" }, "/objects/cut/exact", {
      method: "PUT",
      body: chunked(bytes(1000), 300),
      duplex: "half",
    } as RequestInit);
    expect(exact.status).toBe(200);
    expect((await env.LAKE.head("cut/exact"))?.size).toBe(1000);
  });

  it("over the gateway's cap (its header) → 413 naming [gateway.body_caps].storage; no object", async () => {
    const res = await call("/objects/cut/gw", {
      method: "PUT",
      headers: { [BODY_CAP_HEADER]: "4096" },
      body: chunked(bytes(4097), 1024),
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(((await res.json()) as Json).error.message).toContain("[gateway.body_caps].storage");
    expect(await env.LAKE.head("cut/gw")).toBeNull();
    const big = await call("/objects/cut/gw-big", {
      method: "PUT",
      headers: { [BODY_CAP_HEADER]: String(PART_BYTES) },
      body: chunked(bytes(PART_BYTES + 1)),
      duplex: "half",
    } as RequestInit);
    expect(big.status).toBe(413);
    expect(await env.LAKE.head("cut/gw-big")).toBeNull();
    const ok = await call("/objects/cut/gw-ok", {
      method: "PUT",
      headers: { [BODY_CAP_HEADER]: "4096" },
      body: chunked(bytes(4096), 1024),
      duplex: "half",
    } as RequestInit);
    expect(ok.status).toBe(200);
  });

  it("an errored request stream looks like a clean end to the callee (why the gateway names its cap)", async () => {
    // workerd delivers the bytes before the error and then a normal end of body: storage cannot
    // tell a cut body from a whole one by the stream alone. So a body the gateway cuts carries
    // X-Lakehouse-Body-Cap and the chunk that crosses it (tested above and in the gateway).
    // If this starts failing, workerd began propagating the error: the check above still holds.
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent >= 3000) return c.error(new Error("client went away"));
        c.enqueue(bytes(1000));
        sent += 1000;
      },
    });
    const res = await call("/objects/cut/err-small", {
      method: "PUT",
      body,
      duplex: "half",
    } as RequestInit).catch((e: Error) => e);
    const stored = await env.LAKE.head("cut/err-small");
    if (res instanceof Response && res.status === 200)
      expect(stored?.size).toBe(3000); // the platform today
    else expect(stored).toBeNull(); // an error that reaches the callee must never leave an object
  });
});

describe("keys", () => {
  it("rejects each invalid form with 400 naming the problem", async () => {
    const cases: [string, RegExp][] = [
      ["", /key is empty/],
      ["%2Fleading", /starts with "\/"/],
      ["a%2F..%2Fb", /contains a ".." path segment/],
      ["..%2Fetc", /contains a ".." path segment/],
      ["nul%00byte", /NUL character/],
      ["line%0Abreak", /LF character/],
      ["cr%0Dhere", /CR character/],
      ["tab%09here", /tab character/],
      ["x".repeat(1025), /1025 bytes; the limit is 1024/],
      ["bad%ZZ", /malformed percent-encoding/],
    ];
    for (const [key, message] of cases) {
      const res = await call(`/objects/${key}`, { method: "PUT", body: "x" });
      expect(res.status, key).toBe(400);
      const body = (await res.json()) as Json;
      expect(body.error.code, key).toBe("bad_request");
      expect(body.error.message, key).toMatch(message);
    }
    expect(keyProblem("ok/nested/key.parquet")).toBeUndefined();
    expect(keyProblem("a/.../b")).toBeUndefined();
  });
});

describe("list", () => {
  it("lists by prefix with limit and cursor", async () => {
    for (const k of ["l/1", "l/2", "l/3", "l/4", "l/5", "other/1"])
      await call(`/objects/${k}`, { method: "PUT", body: k });
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: Response = await call(
        `/list?prefix=l/&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
      );
      expect(res.status).toBe(200);
      const page = (await res.json()) as Json;
      pages++;
      for (const o of page.objects) {
        expect(o).toMatchObject({ size: 3 });
        expect(typeof o.etag).toBe("string");
        expect(new Date(o.uploaded).getTime()).toBeGreaterThan(0);
        seen.push(o.key);
      }
      expect(page.truncated).toBe(page.cursor !== null);
      cursor = page.cursor;
    } while (cursor);
    expect(seen).toEqual(["l/1", "l/2", "l/3", "l/4", "l/5"]);
    expect(pages).toBe(3);
    const bad = await call("/list?limit=5000");
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as Json).error.message).toMatch(
      /limit: expected an integer from 1 to 1000/,
    );
  });
});

describe("multipart", () => {
  it("create, parts, complete → one object; abort discards; unknown upload → 404", async () => {
    const create = (await (await call("/multipart/mp/big.bin", { method: "POST" })).json()) as Json;
    expect(typeof create.upload_id).toBe("string");
    const partA = new Uint8Array(5 * 1024 * 1024).fill(65);
    const partB = new TextEncoder().encode("tail");
    const parts = [];
    for (const [n, bytes] of [
      [1, partA],
      [2, partB],
    ] as const) {
      const res = await call(
        `/multipart/mp/big.bin?upload_id=${encodeURIComponent(create.upload_id)}&part=${n}`,
        { method: "PUT", body: bytes },
      );
      expect(res.status).toBe(200);
      parts.push(await res.json());
    }
    expect(parts.map((p: Json) => p.part_number)).toEqual([1, 2]);
    const done = await call(
      `/multipart/mp/big.bin/complete?upload_id=${encodeURIComponent(create.upload_id)}`,
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ parts }),
      },
    );
    expect(done.status).toBe(200);
    expect(((await done.json()) as Json).size).toBe(partA.byteLength + 4);
    const tail = await call("/objects/mp/big.bin", { headers: { range: "bytes=-4" } });
    expect(await tail.text()).toBe("tail");

    const second = (await (
      await call("/multipart/mp/aborted.bin", { method: "POST" })
    ).json()) as Json;
    await call(
      `/multipart/mp/aborted.bin?upload_id=${encodeURIComponent(second.upload_id)}&part=1`,
      { method: "PUT", body: "x" },
    );
    expect(
      (
        await call(`/multipart/mp/aborted.bin?upload_id=${encodeURIComponent(second.upload_id)}`, {
          method: "DELETE",
        })
      ).status,
    ).toBe(204);
    expect((await call("/objects/mp/aborted.bin")).status).toBe(404);

    const unknown = await call(`/multipart/mp/x.bin/complete?upload_id=no-such-upload`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ parts: [{ part_number: 1, etag: "x" }] }),
    });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as Json).error.message).toMatch(
      /upload_id "no-such-upload" is not an open upload/,
    );

    const missingId = await call("/multipart/mp/x.bin?part=1", { method: "PUT", body: "x" });
    expect(missingId.status).toBe(400);
    expect(((await missingId.json()) as Json).error.message).toMatch(/upload_id: missing/);
    const badPart = await call(`/multipart/mp/x.bin?upload_id=abc&part=0`, {
      method: "PUT",
      body: "x",
    });
    expect(badPart.status).toBe(400);
    expect(((await badPart.json()) as Json).error.message).toMatch(
      /part: expected an integer from 1 to 10000/,
    );
  });
});

describe("bulk delete", () => {
  it("removes many keys at once", async () => {
    for (const k of ["d/1", "d/2"]) await call(`/objects/${k}`, { method: "PUT", body: "x" });
    const res = await call("/delete", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ keys: ["d/1", "d/2"] }),
    });
    expect(((await res.json()) as Json).deleted).toBe(2);
    const listed = await env.LAKE.list({ prefix: "d/" });
    expect(listed.objects).toEqual([]);
  });
});

describe("openapi.json", () => {
  it("lists every route the storage Worker serves", async () => {
    const doc = (await (await call("/openapi.json")).json()) as Json;
    const listed = Object.entries(doc.paths as Record<string, object>).flatMap(([path, item]) =>
      Object.keys(item).map((m) => `${m} ${path}`),
    );
    expect(listed.sort()).toEqual(
      [
        "put /storage/objects/{key}",
        "get /storage/objects/{key}",
        "head /storage/objects/{key}",
        "delete /storage/objects/{key}",
        "post /storage/delete",
        "get /storage/list",
        "post /storage/multipart/{key}",
        "put /storage/multipart/{key}",
        "delete /storage/multipart/{key}",
        "post /storage/multipart/{key}/complete",
      ].sort(),
    );
    expect(doc.paths["/storage/list"].get.parameters.map((p: Json) => p.name).sort()).toEqual([
      "cursor",
      "limit",
      "prefix",
    ]);
    expect(
      doc.paths["/storage/multipart/{key}/complete"].post.requestBody.content["application/json"]
        .schema.properties.parts,
    ).toBeDefined();
  });
});
