// Issue #12 at the public door (workers/gateway/src/routes.ts, proxy.ts):
//   - bodies are never cut silently: a chunked body over a family's cap is a 413 and nothing
//     is written or registered (storage PUT, ingest), whether or not the length was declared;
//   - only the public contract is forwarded: service-to-service routes answer the gateway's
//     404, also when the path is percent-encoded, dotted or doubled to sneak past the table;
//   - the lake's own prefixes are read-only through /v1/storage (403 naming the prefix), while
//     reads, SQL over the dataset and appends keep working.
// Small caps reach the gateway only (`--var`), so the gateway's cap alone has to hold.
import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type System, startSystem } from "./harness";

const CAP = 1024 * 1024;
let sys: System;

beforeAll(async () => {
  sys = await startSystem({
    vars: { LH_GATEWAY_BODY_CAPS_STORAGE: String(CAP), LH_GATEWAY_BODY_CAPS_INGEST: String(CAP) },
  });
});
afterAll(() => sys?.stop());

/** A body with no declared length: Node's fetch sends a ReadableStream chunked. */
function chunked(
  total: number,
  line = (i: number) => `${i},name${i},${i % 97}\n`,
  header = "id,name,score\n",
): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  let sent = 0;
  let i = 0;
  let headerSent = false;
  return new ReadableStream({
    pull(controller) {
      if (sent >= total) return controller.close();
      let text = headerSent ? "" : header;
      headerSent = true;
      while (text.length < 64 * 1024) text += line(i++);
      const bytes = enc.encode(text);
      sent += bytes.byteLength;
      controller.enqueue(bytes);
    },
  });
}

/**
 * Sends a chunked body with node:http and resolves with the answer as soon as it arrives: the
 * gateway answers 413 while the client is still sending, and fetch would report that as a
 * failed write (EPIPE) instead of the response.
 */
async function sendChunked(
  path: string,
  method: string,
  total: number,
  contentType = "application/octet-stream",
): Promise<Response> {
  const url = new URL(sys.url);
  const reader = chunked(total).getReader();
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: { "content-type": contentType, "transfer-encoding": "chunked" },
      },
      (res) => {
        answered = true;
        const parts: Buffer[] = [];
        res.on("data", (d: Buffer) => parts.push(d));
        res.on("end", () =>
          resolve(
            new Response(Buffer.concat(parts), {
              status: res.statusCode ?? 0,
              headers: res.headers as Record<string, string>,
            }),
          ),
        );
        res.on("error", reject);
      },
    );
    req.on("error", (err: NodeJS.ErrnoException) => {
      // wrangler dev may reset the connection once the gateway has refused the body and the
      // client is still sending: that is a refusal too (status 0 here), never a silent cut.
      if (!answered && (err.code === "ECONNRESET" || err.code === "EPIPE"))
        resolve(new Response(null, { status: 599 }));
      else if (!answered) reject(err);
    });
    (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || req.destroyed) break;
        if (!req.write(value)) await new Promise((r) => req.once("drain", r));
      }
      req.end();
    })().catch(() => {});
  });
}

/** A request with the path sent exactly as written (fetch would resolve "." and ".." first). */
function raw(method: string, path: string, body = ""): Promise<{ status: number; text: string }> {
  const url = new URL(sys.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

describe("bodies are never cut silently", () => {
  it("a chunked storage PUT over the cap is 413 naming the cap and its key, and stores nothing", async () => {
    const res = await sendChunked("/v1/storage/objects/_uploads/big.bin", "PUT", 3 * CAP);
    expect([413, 599]).toContain(res.status); // 599: connection reset after the refusal
    if (res.status === 413) {
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("payload_too_large");
      expect(body.error.message).toContain(String(CAP));
      expect(body.error.message).toContain("[gateway.body_caps].storage");
    }
    await new Promise((r) => setTimeout(r, 1000));
    expect(
      (await sys.fetch("/v1/storage/objects/_uploads/big.bin", { method: "HEAD" })).status,
    ).toBe(404);
    // Just over the cap is refused too; under it, a chunked body is stored whole.
    expect([413, 599]).toContain(
      (await sendChunked("/v1/storage/objects/_uploads/edge.bin", "PUT", CAP + 1)).status,
    );
    expect(
      (await sys.fetch("/v1/storage/objects/_uploads/edge.bin", { method: "HEAD" })).status,
    ).toBe(404);
    const ok = await sendChunked("/v1/storage/objects/_uploads/small.bin", "PUT", CAP / 2);
    expect(ok.status).toBe(200);
    const size = ((await ok.json()) as { size: number }).size;
    expect(size).toBeGreaterThan(CAP / 2 - 1);
    expect(
      Number(
        (await sys.fetch("/v1/storage/objects/_uploads/small.bin", { method: "HEAD" })).headers.get(
          "content-length",
        ),
      ),
    ).toBe(size);
  });

  it("a declared length over the cap is 413 before the body is read", async () => {
    const res = await sys.fetch("/v1/storage/objects/_uploads/declared.bin", {
      method: "PUT",
      body: new Uint8Array(CAP + 10),
    });
    expect(res.status).toBe(413);
    expect(
      (await sys.fetch("/v1/storage/objects/_uploads/declared.bin", { method: "HEAD" })).status,
    ).toBe(404);
  });

  it("a chunked ingest over the cap is 413 and creates no dataset, no version, no object", async () => {
    const res = await sendChunked("/v1/ingest?name=too_big", "POST", 3 * CAP, "text/csv");
    expect(res.status).toBe(413);
    expect(
      ((await res.json()) as { error: { code: string; message: string } }).error.message,
    ).toContain("[gateway.body_caps].ingest");
    // An ingest still running behind the 413 would register within this time.
    await new Promise((r) => setTimeout(r, 3000));
    expect((await sys.json("/v1/catalog/manifest/too_big")).status).toBe(404);
    const list = await sys.json("/v1/storage/list?prefix=datasets/too_big/");
    expect(list.body.objects).toEqual([]);
    const sql = await sys.json("/v1/sql", {
      method: "POST",
      json: { sql: "SELECT count(*) FROM too_big" },
    });
    expect(sql.status).toBe(400);
    // The same CSV under the cap ingests whole.
    const small = await sendChunked("/v1/ingest?name=small_enough", "POST", CAP / 4, "text/csv");
    expect(small.status).toBe(200);
    expect(((await small.json()) as { row_count: number }).row_count).toBeGreaterThan(1000);
  });

  it("a body refused for its size leaves the connection sound: the next request is answered (100 rounds)", async () => {
    // Before the gateway drained the rest of a refused chunked body, about 3 in 100 requests
    // right after such a 413 were lost by the local runtime (a 500 "Network connection lost.").
    const chunk = new Uint8Array(64 * 1024).fill(0x31);
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 100; i++) {
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent > 1024 * 1024) return controller.close();
          sent += chunk.byteLength;
          controller.enqueue(chunk);
        },
      });
      const refused = await sys.fetch("/v1/sql", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
        duplex: "half",
      } as RequestInit);
      await refused.text();
      const next = await sys.fetch("/v1/matrix/search", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '["not an object"]',
      });
      const text = await next.text();
      const key = `${refused.status} then ${next.status}${text.includes("connection lost") ? " (lost)" : ""}`;
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    }
    expect(Object.fromEntries(outcomes)).toEqual({ "413 then 400": 100 });
  });
});

describe("only the public contract is forwarded", () => {
  const INTERNAL: [string, string, unknown?][] = [
    ["POST", "/v1/sql/datasets/changed", { name: "forged", version: 1, manifest: null }],
    ["GET", "/v1/sql/datasets"],
    [
      "POST",
      "/v1/catalog/register",
      { name: "forged", schema: [], schema_fingerprint: "x", objects: [] },
    ],
    ["POST", "/v1/storage/delete", { keys: ["_uploads/small.bin"] }],
  ];

  it("service-to-service routes answer the gateway's 404 and have no effect", async () => {
    expect(
      (await sys.fetch("/v1/storage/objects/_uploads/small.bin", { method: "PUT", body: "keep" }))
        .status,
    ).toBe(200);
    for (const [method, path, json] of INTERNAL) {
      const res = await sys.json(path, { method, json });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.error.code).toBe("not_found");
      expect(res.body.error.message).toBe(`no public route for ${method} ${path}`);
    }
    expect(
      (await sys.fetch("/v1/storage/objects/_uploads/small.bin", { method: "HEAD" })).status,
    ).toBe(200);
    expect((await sys.json("/v1/catalog/manifest/forged")).status).toBe(404);
  });

  it("encoded, dotted and doubled paths cannot reach them either", async () => {
    const body = JSON.stringify({ keys: ["_uploads/small.bin"] });
    for (const path of [
      "/v1/sql/%64atasets/changed",
      "/v1/sql/datasets%2Fchanged",
      "/v1/sql/./datasets/changed",
      "/v1/sql/%2e/datasets/changed",
      "/v1/sql//datasets/changed",
      "/v1//sql/datasets/changed",
      "/v1/sql/x/../datasets/changed",
      "/v1/sql/x/%2e%2e/datasets/changed",
      "/v1/ingest/../sql/datasets/changed",
      "/v1/%73ql/datasets/changed",
      "/v1/storage/%64elete",
      "/v1/storage/objects/../delete",
      "/v1/storage/objects/%2e%2e/delete",
    ]) {
      const res = await raw("POST", path, body);
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      expect(res.status, path).toBeLessThan(500);
      expect(res.text, path).not.toMatch(/"replicas"|"deleted"/);
      expect(res.text, path).toMatch(
        /no public route|not allowed|unknown API family|invalid object key|no route for/,
      );
    }
    expect(
      (await sys.fetch("/v1/storage/objects/_uploads/small.bin", { method: "HEAD" })).status,
    ).toBe(200);
  });

  it("a public path with another method is 405 with Allow; the documented aliases keep working", async () => {
    const get = await sys.fetch("/v1/sql");
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
    expect(
      (await sys.json("/v1/sql/", { method: "POST", json: { sql: "SELECT 1 AS one" } })).body.rows,
    ).toEqual([[1]]);
    const alias = await sys.json("/v1/ingest/ingest?name=alias_ok", {
      method: "POST",
      body: "id\n1\n",
      headers: { "content-type": "text/csv" },
    });
    expect(alias.status).toBe(200);
    expect((await sys.json("/v1/vectors/index/none/stats")).status).not.toBe(405);
  });

  it("GET /v1/openapi.json and each family's document list no internal route", async () => {
    const doc = (await sys.json("/v1/openapi.json")).body as {
      paths: Record<string, Record<string, unknown>>;
    };
    expect(doc.paths["/v1/catalog/register"]).toBeUndefined();
    expect(doc.paths["/v1/sql/datasets/changed"]).toBeUndefined();
    expect(doc.paths["/v1/storage/delete"]).toBeUndefined();
    expect(doc.paths["/v1/catalog/list"]?.get).toBeDefined();
    const sqlDoc = (await sys.json("/v1/sql/openapi.json")).body as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(sqlDoc.paths).some((p) => p.includes("datasets"))).toBe(false);
    const catalogDoc = (await sys.json("/v1/catalog/openapi.json")).body as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(catalogDoc.paths).some((p) => p.endsWith("/register"))).toBe(false);
  });
});

describe("the lake's own objects are read-only through /v1/storage", () => {
  it("PUT, DELETE and multipart on a dataset's Parquet are 403 naming the prefix; reads, SQL and append still work", async () => {
    const ing = await sys.json("/v1/ingest?name=owned", {
      method: "POST",
      body: "id,city\n1,Oslo\n2,Rome\n",
      headers: { "content-type": "text/csv" },
    });
    expect(ing.status, JSON.stringify(ing.body)).toBe(200);
    const key: string = ing.body.objects[0].key;
    expect(key.startsWith("datasets/owned/")).toBe(true);
    const rest = key.slice("datasets/".length);
    const attempts: [string, string][] = [
      ["PUT", `/v1/storage/objects/${key}`],
      ["DELETE", `/v1/storage/objects/${key}`],
      ["PUT", `/v1/storage/objects/datasets%2F${rest.replace("/", "%2F")}`],
      ["DELETE", `/v1/storage/objects/%64atasets/${rest}`],
      ["POST", `/v1/storage/multipart/${key}`],
      ["PUT", `/v1/storage/multipart/${key}?upload_id=x&part=1`],
      ["POST", `/v1/storage/multipart/${key}/complete?upload_id=x`],
      ["DELETE", `/v1/storage/multipart/${key}?upload_id=x`],
      ["PUT", "/v1/storage/objects/_ingest/x.csv"],
      ["DELETE", "/v1/storage/objects/_vectors/x"],
    ];
    for (const [method, path] of attempts) {
      const res = await sys.json(path, { method, body: method === "PUT" ? "garbage" : undefined });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.body.error.code).toBe("forbidden");
      expect(res.body.error.message).toMatch(/"(datasets|_ingest|_vectors)\/"/);
    }
    const get = await sys.fetch(`/v1/storage/objects/${key}`);
    expect(get.status).toBe(200);
    expect(new Uint8Array(await get.arrayBuffer()).slice(0, 4)).toEqual(
      new TextEncoder().encode("PAR1"),
    );
    expect(
      (await sys.json("/v1/storage/list?prefix=datasets/owned/")).body.objects.filter(
        (o: any) => !o.key.includes("/metadata/"),
      ),
    ).toHaveLength(1);
    const q = await sys.json("/v1/sql", {
      method: "POST",
      json: { sql: "SELECT city FROM owned ORDER BY id" },
    });
    expect(q.status, JSON.stringify(q.body)).toBe(200);
    expect(q.body.rows).toEqual([["Oslo"], ["Rome"]]);
    const app = await sys.json("/v1/ingest?name=owned&mode=append", {
      method: "POST",
      body: "id,city\n3,Lima\n",
      headers: { "content-type": "text/csv" },
    });
    expect(app.status, JSON.stringify(app.body)).toBe(200);
    expect(
      (await sys.json("/v1/sql", { method: "POST", json: { sql: "SELECT count(*) FROM owned" } }))
        .body.rows,
    ).toEqual([[3]]);
    // The CLI's upload prefix and any user prefix stay writable.
    expect(
      (
        await sys.fetch("/v1/storage/objects/_uploads/ingest/owned/a.csv", {
          method: "PUT",
          body: "id\n1\n",
        })
      ).status,
    ).toBe(200);
    expect(
      (await sys.fetch("/v1/storage/objects/_uploads/ingest/owned/a.csv", { method: "DELETE" }))
        .status,
    ).toBe(204);
  });
});
