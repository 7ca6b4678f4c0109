import { createRoute, z } from "@hono/zod-openapi";
import { describe, expect, it } from "vitest";
import { createServiceApp } from "../app";
import { LakehouseError } from "../errors";

function sampleApp() {
  const { app, api } = createServiceApp<object>("sample", "things");
  api.openapi(
    createRoute({
      method: "post",
      path: "/add",
      request: {
        body: {
          content: {
            "application/json": {
              schema: z.object({ name: z.string().min(1), n: z.number().int() }),
            },
          },
        },
      },
      responses: {
        200: {
          description: "added",
          content: { "application/json": { schema: z.object({ ok: z.boolean() }) } },
        },
      },
    }),
    (c) => c.json({ ok: c.req.valid("json").n > 0 }, 200),
  );
  api.get("/boom", () => {
    throw new LakehouseError("conflict", 'thing "x" already exists');
  });
  api.get("/crash", () => {
    throw new Error("secret internals");
  });
  return app;
}

describe("createServiceApp", () => {
  const app = sampleApp();

  it("answers /health and /<family>/health", async () => {
    expect(await (await app.request("/health")).json()).toEqual({
      service: "sample",
      status: "ok",
    });
    expect((await app.request("/things/health")).status).toBe(200);
  });

  it("validates JSON bodies with a 400 naming the field", async () => {
    const res = await app.request("/things/add", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "", n: 1.5 }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("bad_request");
    expect(body.error.message).toMatch(/body\.name/);
    expect(body.error.message).toMatch(/body\.n/);
    const ok = await app.request("/things/add", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "a", n: 2 }),
    });
    expect(await ok.json()).toEqual({ ok: true });
  });

  it("maps thrown errors to the one JSON body and hides internals", async () => {
    const conflict = await app.request("/things/boom");
    expect(conflict.status).toBe(409);
    expect(await conflict.json()).toEqual({
      error: { code: "conflict", message: 'thing "x" already exists' },
    });
    const crash = await app.request("/things/crash");
    expect(crash.status).toBe(500);
    expect(JSON.stringify(await crash.json())).not.toMatch(/secret/);
    const missing = await app.request("/things/nope");
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe("not_found");
  });

  it("serves its OpenAPI document under the family, generated from the route schemas", async () => {
    const doc = (await (await app.request("/things/openapi.json")).json()) as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(doc.paths)).toContain("/things/add");
  });

  it("echoes or creates X-Request-Id", async () => {
    expect(
      (await app.request("/health", { headers: { "X-Request-Id": "abc" } })).headers.get(
        "x-request-id",
      ),
    ).toBe("abc");
    expect(
      (
        await app.request("/health", { headers: { "X-Request-Id": "bad id with spaces" } })
      ).headers.get("x-request-id"),
    ).not.toBe("bad id with spaces");
  });
});
