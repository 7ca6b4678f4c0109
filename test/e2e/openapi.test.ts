// /v1/openapi.json: a valid OpenAPI 3.1 document (checked against the official schema),
// merged from every service's own document (generated from its zod route schemas) plus
// the gateway's routes; every route in it must be answered by the running system, and
// every DESIGN §6 route of every service must be in it with its method.

import { Validator } from "@seriousme/openapi-schema-validator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type System, startSystem } from "./harness";

const TOKEN = "openapi-e2e-token";

// [method, path at the gateway] for every route of DESIGN §6 (sample values in the parameters),
// less POST /v1/catalog/register, internal since issue #12 (only ingest registers).
const DESIGN_ROUTES: [string, string][] = [
  ["get", "/health"],
  ["get", "/v1/health"],
  ["get", "/v1/openapi.json"],
  ["get", "/"],
  ["put", "/v1/storage/objects/probe/key.txt"],
  ["get", "/v1/storage/objects/probe/key.txt"],
  ["head", "/v1/storage/objects/probe/key.txt"],
  ["delete", "/v1/storage/objects/probe/key.txt"],
  ["get", "/v1/storage/list"],
  ["post", "/v1/storage/multipart/probe/mp.bin"],
  ["put", "/v1/storage/multipart/probe/mp.bin"],
  ["post", "/v1/storage/multipart/probe/mp.bin/complete"],
  ["delete", "/v1/storage/multipart/probe/mp.bin"],
  ["get", "/v1/catalog/manifest/probe"],
  ["get", "/v1/catalog/history/probe"],
  ["get", "/v1/catalog/list"],
  ["delete", "/v1/catalog/manifest/probe"],
  ["post", "/v1/ingest"],
  ["post", "/v1/sql"],
  ["post", "/v1/embed"],
  ["get", "/v1/embed/stats"],
  ["post", "/v1/vectors/index"],
  ["get", "/v1/vectors/index"],
  ["get", "/v1/vectors/index/probe"],
  ["delete", "/v1/vectors/index/probe"],
  ["post", "/v1/vectors/index/probe/add"],
  ["post", "/v1/vectors/index/probe/search"],
  ["post", "/v1/vectors/index/probe/delete"],
  ["post", "/v1/pathway/add"],
  ["post", "/v1/pathway/add_idempotent"],
  ["post", "/v1/pathway/update"],
  ["post", "/v1/pathway/revise"],
  ["post", "/v1/pathway/retire"],
  ["get", "/v1/pathway/get/probe"],
  ["get", "/v1/pathway/history/probe"],
  ["post", "/v1/pathway/search"],
  ["get", "/v1/pathway/stats"],
  ["post", "/v1/matrix/search"],
  ["get", "/v1/matrix/corpora"],
  ["post", "/v1/matrix/playbooks/record"],
  ["post", "/v1/matrix/relevance"],
  ["post", "/v1/matrix/downgrade"],
  ["get", "/v1/observer/health"],
  ["get", "/v1/observer/stats"],
  ["post", "/v1/observer/event"],
  ["post", "/v1/observer/events"],
  ["get", "/v1/observer/ops"],
  ["post", "/v1/observer/review"],
  ["post", "/v1/observer/cycle"],
  ["get", "/v1/observer/clusters"],
  ["get", "/v1/observer/playbooks"],
  ["get", "/v1/observer/escalations"],
  ["get", "/v1/observer/reviews"],
  ["get", "/v1/observer/recommendations"],
  ["post", "/v1/mcp"],
];

interface Doc {
  openapi: string;
  paths: Record<string, Record<string, unknown>>;
  components?: Record<string, Record<string, unknown>>;
}

function templateRegex(template: string): RegExp {
  const escaped = template.split(/\{[^}]+\}/).map((s) => s.replace(/[.*+?^$()|[\]\\]/g, "\\$&"));
  return new RegExp(`^${escaped.join(".+")}$`);
}

function documents(doc: Doc, method: string, path: string): boolean {
  return Object.entries(doc.paths).some(
    ([template, item]) => method in item && templateRegex(template).test(path),
  );
}

describe("/v1/openapi.json", () => {
  let sys: System;
  let doc: Doc;
  beforeAll(async () => {
    sys = await startSystem({ vars: { AUTH_TOKEN: TOKEN } });
    const res = await sys.json("/v1/openapi.json");
    expect(res.status).toBe(200);
    doc = res.body;
  });
  afterAll(() => sys?.stop());

  it("needs the token like every /v1 route", async () => {
    expect((await fetch(`${sys.url}/v1/openapi.json`)).status).toBe(401);
  });

  it("is a valid OpenAPI 3.1 document whose references all resolve", async () => {
    expect(doc.openapi).toBe("3.1.0");
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc) as never);
    expect(result.errors ?? [], JSON.stringify(result.errors)).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    for (const ref of refs) {
      const [, kind, name] = /#\/components\/([^/]+)\/([^"]+)"/.exec(ref) ?? [];
      expect(doc.components?.[kind!]?.[name!], ref).toBeDefined();
    }
    expect(
      (doc as unknown as { "x-unavailable-services"?: unknown })["x-unavailable-services"],
    ).toBeUndefined();
  });

  it("merges every service's own document (generated from its zod route schemas) under /v1", async () => {
    const families = [
      "storage",
      "catalog",
      "ingest",
      "sql",
      "embed",
      "vectors",
      "pathway",
      "matrix",
      "observer",
      "mcp",
    ];
    let declared = 0;
    for (const family of families) {
      const own = (await sys.json(`/v1/${family}/openapi.json`)).body as Doc;
      expect(own.openapi, family).toBe("3.1.0");
      for (const [path, item] of Object.entries(own.paths ?? {})) {
        for (const method of Object.keys(item)) {
          declared++;
          const once = path.startsWith(`/${family}/${family}/`)
            ? path.slice(family.length + 1)
            : path;
          expect(doc.paths[`/v1${once}`]?.[method], `${method} /v1${once}`).toBeDefined();
        }
      }
      // The gateway adds each family's health and document routes.
      expect(doc.paths[`/v1/${family}/health`]?.get, family).toBeDefined();
    }
    expect(declared).toBeGreaterThan(0);
  });

  it("lists every route the gateway itself and the mcp family serve", async () => {
    const undocumented: string[] = [];
    for (const [method, path] of DESIGN_ROUTES.filter(
      ([, p]) =>
        !p.startsWith("/v1/") ||
        p.startsWith("/v1/mcp") ||
        p === "/v1/health" ||
        p === "/v1/openapi.json",
    )) {
      const res = await sys.fetch(path, { method: method.toUpperCase() });
      const text = await res.text();
      expect(
        /no (public )?route for|is not allowed on/.test(text),
        `${method} ${path} is served`,
      ).toBe(false);
      if (!documents(doc, method, path)) undocumented.push(`${method.toUpperCase()} ${path}`);
    }
    expect(undocumented).toEqual([]);
  });

  it("documents every DESIGN §6 route of every service, with its method, and serves each", async () => {
    const undocumented: string[] = [];
    const unserved: string[] = [];
    for (const [method, path] of DESIGN_ROUTES) {
      if (!documents(doc, method, path)) undocumented.push(`${method.toUpperCase()} ${path}`);
      const res = await sys.fetch(path, { method: method.toUpperCase() });
      const text = method === "head" ? "" : await res.text();
      if (
        (res.status === 404 || res.status === 405) &&
        /no (public )?route for|is not allowed on/.test(text)
      )
        unserved.push(`${method.toUpperCase()} ${path}`);
    }
    expect(undocumented).toEqual([]);
    expect(unserved).toEqual([]);
    // The path parameters are the documented ones, not a catch-all that would match anything.
    for (const [method, template] of [
      ["get", "/v1/catalog/manifest/{name}"],
      ["delete", "/v1/catalog/manifest/{name}"],
      ["get", "/v1/catalog/history/{name}"],
      ["post", "/v1/ingest"],
      ["post", "/v1/observer/event"],
      ["post", "/v1/observer/events"],
      ["get", "/v1/observer/ops"],
    ] as const) {
      expect(doc.paths[template]?.[method], `${method} ${template}`).toBeDefined();
    }
  });

  it("documents the converted services' inputs from the schemas that validate them (catalog, ingest, observer)", () => {
    type Op = {
      parameters?: { name: string; in: string }[];
      requestBody?: { content?: Record<string, { schema?: { $ref?: string } }> };
    };
    const op = (path: string, method: string) => doc.paths[path]?.[method] as Op;
    expect(
      op("/v1/catalog/manifest/{name}", "get")
        .parameters?.map((p) => `${p.in} ${p.name}`)
        .sort(),
    ).toEqual(["path name", "query version"]);
    expect(
      op("/v1/ingest", "post")
        .parameters?.filter((p) => p.in === "query")
        .map((p) => p.name)
        .sort(),
    ).toEqual(["from_key", "mode", "name"]);
    expect(Object.keys(op("/v1/ingest", "post").requestBody?.content ?? {}).sort()).toEqual([
      "multipart/form-data",
      "text/csv",
    ]);
    expect(
      op("/v1/observer/event", "post").requestBody?.content?.["application/json"]?.schema?.$ref,
    ).toBe("#/components/schemas/ObservedOpInput");
    expect(doc.components?.schemas?.ObservedOpInput).toBeDefined();
    expect(op("/v1/observer/ops", "get").parameters?.map((p) => p.name)).toContain("source");
  });

  it("describes only routes that exist: each documented operation is answered", async () => {
    const missing: string[] = [];
    for (const [template, item] of Object.entries(doc.paths)) {
      for (const method of Object.keys(item)) {
        if (!["get", "put", "post", "delete", "patch", "head"].includes(method)) continue;
        const path = template.replace(/\{[^}]+\}/g, "probe");
        const res = await sys.fetch(path, { method: method.toUpperCase() });
        const text = method === "head" ? "" : await res.text();
        if (
          (res.status === 404 || res.status === 405) &&
          /no (public )?route for|is not allowed on/.test(text)
        )
          missing.push(`${method.toUpperCase()} ${template}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it("documents request bodies from the validating schemas (sql, mcp)", () => {
    const sql = doc.paths["/v1/sql"]?.post as
      | { requestBody?: { content?: Record<string, unknown> } }
      | undefined;
    expect(sql?.requestBody?.content?.["application/json"]).toBeDefined();
    expect(doc.paths["/v1/mcp"]?.post).toBeDefined();
    const families = [
      "storage",
      "catalog",
      "ingest",
      "sql",
      "embed",
      "vectors",
      "pathway",
      "matrix",
      "observer",
      "mcp",
    ];
    for (const f of families)
      expect(
        Object.keys(doc.paths).some((p) => p.startsWith(`/v1/${f}`)),
        f,
      ).toBe(true);
  });
});
