// The gateway's own pieces of issue 7 inside workerd: the OpenAPI merge (components
// renamed only on a real clash, refs rewritten, /v1 prefix, family once) and the console
// (served without auth, switched off by [gateway].console = false).
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import gatewayApp from "../src/index";
import { mergeDocuments } from "../src/openapi";

const gateway = exports.default as { fetch(input: string, init?: RequestInit): Promise<Response> };

describe("openapi merge", () => {
  it("prefixes /v1, keeps equal components, renames clashing ones and rewrites their refs", () => {
    const shared = { type: "object", properties: { code: { type: "string" } } };
    const merged = mergeDocuments([
      {
        service: "catalog",
        family: "catalog",
        doc: {
          openapi: "3.1.0",
          paths: {
            "/catalog/list": {
              get: {
                responses: {
                  200: {
                    description: "x",
                    content: {
                      "application/json": { schema: { $ref: "#/components/schemas/Thing" } },
                    },
                  },
                },
              },
            },
          },
          components: { schemas: { Thing: { type: "string" }, Err: shared } },
        },
      },
      {
        service: "vectors",
        family: "vectors",
        doc: {
          openapi: "3.1.0",
          paths: {
            "/vectors/vectors/index": {
              post: {
                operationId: "create",
                responses: {
                  201: {
                    description: "x",
                    content: {
                      "application/json": { schema: { $ref: "#/components/schemas/Thing" } },
                    },
                  },
                },
              },
            },
          },
          components: { schemas: { Thing: { type: "number" }, Err: shared } },
        },
      },
      { service: "embed", family: "embed", error: "HTTP 500" },
      {
        service: "ingest",
        family: "ingest",
        doc: {
          openapi: "3.1.0",
          paths: { "/ingest": { post: { responses: { 200: { description: "x" } } } } },
        },
      },
    ]);
    expect(Object.keys(merged.paths!)).toEqual(
      expect.arrayContaining([
        "/v1/catalog/list",
        "/v1/vectors/index",
        "/v1/health",
        "/v1/openapi.json",
        "/",
      ]),
    );
    expect(merged.paths!["/v1/vectors/vectors/index"]).toBeUndefined();
    // The family root is a route of its own (DESIGN's POST /ingest is public POST /v1/ingest).
    expect(merged.paths!["/v1/ingest"]?.post).toBeDefined();
    expect(merged.paths!["/v1/ingest/ingest"]).toBeUndefined();
    expect(merged.components!.schemas!.Thing).toEqual({ type: "string" });
    expect(merged.components!.schemas!.vectors_Thing).toEqual({ type: "number" });
    expect(merged.components!.schemas!.vectors_Err).toBeUndefined();
    expect(JSON.stringify(merged.paths!["/v1/vectors/index"])).toContain(
      "#/components/schemas/vectors_Thing",
    );
    expect(JSON.stringify(merged.paths!["/v1/catalog/list"])).toContain(
      '#/components/schemas/Thing"',
    );
    expect((merged.paths!["/v1/catalog/list"]!.get as { tags: string[] }).tags).toEqual([
      "catalog",
    ]);
    expect((merged as Record<string, unknown>)["x-unavailable-services"]).toEqual({
      embed: "HTTP 500",
    });
  });

  it("serves the merged document with every family's routes", async () => {
    const res = await gateway.fetch("http://gw/v1/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.paths["/v1/mcp"]).toBeDefined();
    expect(doc.paths["/v1/sql"]).toBeDefined();
    expect(doc.paths["/v1/ingest"]).toBeDefined();
    expect(doc.paths["/v1/ingest/ingest"]).toBeUndefined();
    for (const family of [
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
    ]) {
      expect(doc.paths[`/v1/${family}/health`], family).toBeDefined();
    }
  });
});

describe("console", () => {
  it("serves the page, its script and style sheet without auth", async () => {
    const page = await gateway.fetch("http://gw/");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/text\/html/);
    const html = await page.text();
    expect(html).toContain('<script src="/console/app.js"');
    expect(html).toContain('id="sql-input"');
    const js = await gateway.fetch("http://gw/console/app.js");
    expect(js.headers.get("content-type")).toMatch(/javascript/);
    expect(await js.text()).toContain("'/v1' + path");
    expect((await gateway.fetch("http://gw/console/app.css")).status).toBe(200);
  });

  it("is off with [gateway].console = false (404, JSON error shape)", async () => {
    const ctx = {
      waitUntil() {},
      passThroughOnException() {},
      props: {},
    } as unknown as ExecutionContext;
    const res = await gatewayApp.fetch(
      new Request("http://gw/"),
      { ...env, LH_GATEWAY_CONSOLE: "false" },
      ctx,
    );
    expect(res.status).toBe(404);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("not_found");
    expect(body.error.message).toMatch(/gateway\]\.console = false/);
  });
});
