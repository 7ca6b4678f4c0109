// The public surface (routes.ts) inside workerd, against every real service bound to the
// gateway: every route each Worker documents is reachable through /v1 exactly when it is in
// the public table; the rest answer the gateway's own 404/405. Paths are matched as they are
// forwarded (decoded once, dots refused); storage writes under the lake's own prefixes are 403.
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { BODY_CAP_HEADER } from "../../../shared/body-cap";
import { SERVICES } from "../../../shared/clients";
import { FAMILY_TO_SERVICE, forward } from "../src/proxy";
import {
  checkStorageWrite,
  matchPublicRoute,
  normalisePath,
  ownedPrefixes,
  PUBLIC_ROUTES,
} from "../src/routes";

const gateway = exports.default as { fetch(input: string, init?: RequestInit): Promise<Response> };
type Doc = { paths: Record<string, Record<string, unknown>> };

/** Undocumented routes the services serve (not in their OpenAPI documents). */
const UNDOCUMENTED: [string, string, boolean][] = [
  ["POST", "/storage/delete", false],
  ["GET", "/sql/datasets", false],
  ["POST", "/sql/", true],
  ["POST", "/ingest/", true],
  ["POST", "/ingest/ingest", true],
  ["GET", "/embed", false], // a 405 from the gateway: POST only
  ["GET", "/vectors/index/probe/stats", true],
  ["GET", "/catalog/delta/probe", false], // the query engine's incremental load
  ["POST", "/catalog/maintain", false], // the cron's compaction and retention, for operators
  ["POST", "/ingest/compact", false], // compaction's Parquet rewrite, called by the catalog
  ["GET", "/iceberg/v1/config", true], // the Iceberg REST catalog (read side), served by the catalog Worker
  ["GET", "/iceberg/v1/namespaces", true],
  ["GET", "/iceberg/v1/namespaces/default/tables/probe", true],
  ["POST", "/iceberg/v1/namespaces/default/tables", false], // commits only through ingest
];

const gatewayAnswer = (text: string) => /no public route for|is not allowed on/.test(text);

describe("the public table against every route the services serve", () => {
  it("forwards exactly the public routes; internal ones get the gateway's 404 (or 405 with Allow)", async () => {
    const routes: [string, string][] = [];
    for (const { binding, family } of Object.values(SERVICES)) {
      const res = await (env as unknown as Record<string, Fetcher>)[binding]!.fetch(
        `https://svc/${family}/openapi.json`,
      );
      expect(res.status, family).toBe(200);
      const doc = (await res.json()) as Doc;
      for (const [template, item] of Object.entries(doc.paths)) {
        const once = template.startsWith(`/${family}/${family}/`)
          ? template.slice(family.length + 1)
          : template;
        for (const method of Object.keys(item))
          routes.push([method.toUpperCase(), once.replace(/\{[^}]+\}/g, "probe")]);
      }
    }
    expect(routes.length).toBeGreaterThan(50);
    const internal: string[] = [];
    const wrong: string[] = [];
    for (const [method, path] of [
      ...routes,
      ...UNDOCUMENTED.map(([m, p]) => [m, p] as [string, string]),
    ]) {
      const isPublic = matchPublicRoute(method, path.split("/").slice(1), path).ok;
      const res = await gateway.fetch(`http://gw/v1${path}`, {
        method,
        body: ["POST", "PUT"].includes(method) ? "{}" : undefined,
        headers: { "content-type": "application/json" },
      });
      const text = method === "HEAD" ? "" : await res.text();
      if (!isPublic) {
        internal.push(`${method} ${path}`);
        if (!((res.status === 404 || res.status === 405) && gatewayAnswer(text)))
          wrong.push(`${method} ${path} answered ${res.status} ${text.slice(0, 120)}`);
      } else if (gatewayAnswer(text))
        wrong.push(`${method} ${path} is public but the gateway refused it`);
    }
    expect(wrong).toEqual([]);
    expect(internal).toEqual(
      expect.arrayContaining([
        "POST /catalog/register",
        "POST /sql/datasets/changed",
        "POST /storage/delete",
        "GET /sql/datasets",
      ]),
    );
    for (const [method, path, isPublic] of UNDOCUMENTED)
      expect(internal.includes(`${method} ${path}`), `${method} ${path}`).toBe(!isPublic);
  });

  it("every public route names an existing family", () => {
    const families = new Set(Object.keys(FAMILY_TO_SERVICE));
    for (const r of PUBLIC_ROUTES)
      expect(families.has(r.path.split("/")[1] as never), r.path).toBe(true);
  });
});

describe("path normalisation", () => {
  it("decodes each segment once and forwards that path; dots and bad escapes are refused", () => {
    expect(normalisePath("/v1/sql/%64atasets/changed")).toEqual({
      segments: ["sql", "datasets", "changed"],
      encoded: "/sql/datasets/changed",
    });
    expect(normalisePath("/v1/storage/objects/a%2Fb/c%20d").encoded).toBe(
      "/storage/objects/a%2Fb/c%20d",
    );
    expect(normalisePath("/v1/pathway/get/a+b:c@d").encoded).toBe("/pathway/get/a+b:c@d");
    expect(() => normalisePath("/v1/sql/%2e/datasets")).toThrow(/not allowed/);
    expect(() => normalisePath("/v1/sql/%zz")).toThrow(/percent-encoding/);
    const seg = (p: string) => normalisePath(p).segments;
    expect(
      matchPublicRoute("POST", seg("/v1/sql/%64atasets/changed"), "/v1/sql/datasets/changed"),
    ).toMatchObject({
      ok: false,
      error: { status: 404, message: "no public route for POST /v1/sql/datasets/changed" },
    });
    expect(matchPublicRoute("POST", seg("/v1/sql/datasets%2Fchanged"), "x").ok).toBe(false);
    expect(matchPublicRoute("POST", seg("/v1/sql//datasets/changed"), "x").ok).toBe(false);
    expect(matchPublicRoute("GET", seg("/v1/sql"), "/v1/sql")).toMatchObject({
      ok: false,
      allow: "POST",
      error: { status: 405 },
    });
    expect(matchPublicRoute("HEAD", seg("/v1/catalog/list"), "x").ok).toBe(true);
    expect(matchPublicRoute("GET", seg("/v1/catalog/manifest/a%2Fb"), "x").ok).toBe(false);
    expect(matchPublicRoute("PUT", seg("/v1/storage/objects/a//b"), "x")).toMatchObject({
      ok: true,
      params: { key: "a//b" },
    });
  });

  it("answers encoded and dotted internal paths with the gateway's 404 through the app", async () => {
    for (const path of [
      "/v1/sql/%64atasets/changed",
      "/v1/sql/%2e/datasets/changed",
      "/v1/%73ql/datasets/changed",
      "/v1/sql/datasets%2Fchanged",
      "/v1/storage/%64elete",
    ]) {
      const res = await gateway.fetch(`http://gw${path}`, { method: "POST", body: "{}" });
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("not_found");
    }
    const res = await gateway.fetch("http://gw/v1/sql", { method: "GET" });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
  });
});

describe("owned prefixes", () => {
  it("refuses writes under datasets/, _ingest/, _vectors/ (decoded keys too) and allows reads and _uploads/", async () => {
    const prefixes = ownedPrefixes("datasets/");
    const route = (p: string) => PUBLIC_ROUTES.find((r) => r.path === p)!;
    expect(() =>
      checkStorageWrite("PUT", route("/storage/objects/{key+}"), "datasets/a/x.parquet", prefixes),
    ).toThrow(/"datasets\/"/);
    expect(() =>
      checkStorageWrite("POST", route("/storage/multipart/{key+}"), "_ingest/a.csv", prefixes),
    ).toThrow(/"_ingest\/"/);
    expect(() =>
      checkStorageWrite("GET", route("/storage/objects/{key+}"), "datasets/a/x.parquet", prefixes),
    ).not.toThrow();
    expect(() =>
      checkStorageWrite("PUT", route("/storage/objects/{key+}"), "_uploads/x.csv", prefixes),
    ).not.toThrow();
    for (const [method, path] of [
      ["PUT", "/v1/storage/objects/datasets%2Fa%2Fx.parquet"],
      ["DELETE", "/v1/storage/objects/%64atasets/a/x.parquet"],
      ["POST", "/v1/storage/multipart/_vectors/x/complete?upload_id=1"],
      ["PUT", "/v1/storage/multipart/datasets/a/x.parquet?upload_id=1&part=1"],
      ["DELETE", "/v1/storage/multipart/_ingest/x.csv?upload_id=1"],
    ] as const) {
      const res = await gateway.fetch(`http://gw${path}`, {
        method,
        body: method === "PUT" ? "x" : undefined,
      });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("forbidden");
    }
    expect((await gateway.fetch("http://gw/v1/storage/objects/datasets/none.parquet")).status).toBe(
      404,
    );
    expect(
      (
        await gateway.fetch("http://gw/v1/storage/objects/_uploads/x.txt", {
          method: "PUT",
          body: "hi",
        })
      ).status,
    ).toBe(200);
  });
});

describe("chunked bodies over the cap", () => {
  function stream(total: number, chunk = 64 * 1024): ReadableStream<Uint8Array> {
    let sent = 0;
    return new ReadableStream({
      pull(c) {
        if (sent >= total) return c.close();
        c.enqueue(new Uint8Array(chunk).fill(120));
        sent += chunk;
      },
    });
  }

  it("are 413 through the gateway and leave no object in storage (the service sees the cap and more bytes)", async () => {
    const options = { cap: 256 * 1024, timeoutMs: 30_000, requestId: "r" };
    const storage = (env as unknown as Record<string, Fetcher>).STORAGE!;
    const req = new Request("http://gw/v1/storage/objects/_uploads/over.bin", {
      method: "PUT",
      body: stream(1024 * 1024),
      duplex: "half",
    } as RequestInit);
    await expect(forward(req, storage, "storage", options)).rejects.toMatchObject({
      status: 413,
      message: expect.stringContaining("[gateway.body_caps].storage"),
    });
    expect(
      (await storage.fetch("https://s/storage/objects/_uploads/over.bin", { method: "HEAD" }))
        .status,
    ).toBe(404);
    // Under the cap the same path stores the whole body.
    const ok = await forward(
      new Request("http://gw/v1/storage/objects/_uploads/under.bin", {
        method: "PUT",
        body: stream(128 * 1024),
        duplex: "half",
      } as RequestInit),
      storage,
      "storage",
      options,
    );
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { size: number }).size).toBe(128 * 1024);
  });

  it("the cap header is the gateway's own: a caller's copy is dropped", async () => {
    let seen: Request | undefined;
    const echo = {
      fetch: (url: string, init: RequestInit) => (
        (seen = new Request(url, init)), Promise.resolve(new Response("ok"))
      ),
    } as unknown as Fetcher;
    await forward(
      new Request("http://gw/v1/sql", {
        method: "POST",
        body: "{}",
        headers: { [BODY_CAP_HEADER]: "999999999" },
      }),
      echo,
      "sql",
      { cap: 10, timeoutMs: 1000, requestId: "r" },
    );
    expect([null, "10"]).toContain(seen!.headers.get(BODY_CAP_HEADER));
  });
});
