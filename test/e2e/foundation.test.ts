// The foundation through the gateway: every service healthy, auth (401/403/200 and
// the deployed-without-token refusal), 404/413 shapes, request ids.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type System, startSystem } from "./harness";

const SERVICES = [
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
];

describe("a system with a token, a secondary token and an IP allow-list", () => {
  let sys: System;
  beforeAll(async () => {
    sys = await startSystem({
      vars: {
        AUTH_TOKEN: "primary-token",
        AUTH_TOKENS_SECONDARY: "rotated-token",
        LH_AUTH_ALLOWED_IPS: "127.0.0.0/8,::1,10.1.0.0/16",
      },
    });
  });
  afterAll(() => sys?.stop());

  it("reports every service healthy through the gateway, without auth", async () => {
    const res = await fetch(`${sys.url}/v1/health`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; services: Record<string, string> };
    expect(body.status).toBe("ok");
    expect(Object.keys(body.services).sort()).toEqual(SERVICES);
    for (const s of SERVICES) expect(body.services[s], s).toBe("ok");
    expect((await fetch(`${sys.url}/health`)).status).toBe(200);
  });

  it("answers each family's /health through the gateway with its service name", async () => {
    const families: Record<string, string> = {
      storage: "storage",
      catalog: "catalog",
      ingest: "ingest",
      sql: "query",
      embed: "embed",
      vectors: "vectors",
      pathway: "pathway",
      matrix: "matrix",
      observer: "observer",
      mcp: "mcp",
    };
    for (const [family, service] of Object.entries(families)) {
      const { status, body } = await sys.json(`/v1/${family}/health`);
      expect(status, family).toBe(200);
      expect(body.service).toBe(service);
    }
  });

  it("401 without a token or with a wrong one; 200 with the primary or the secondary", async () => {
    const none = await fetch(`${sys.url}/v1/storage/health`);
    expect(none.status).toBe(401);
    expect(((await none.json()) as any).error.code).toBe("unauthorized");
    const wrong = await fetch(`${sys.url}/v1/storage/health`, {
      headers: { authorization: "Bearer nope" },
    });
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as any).error.message).toBe("invalid bearer token");
    for (const token of ["primary-token", "rotated-token"]) {
      const ok = await fetch(`${sys.url}/v1/storage/health`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(ok.status, token).toBe(200);
    }
  });

  it("403 when CF-Connecting-IP is outside the allow-list, even with a valid token", async () => {
    const outside = await sys.fetch("/v1/storage/health", {
      headers: { "CF-Connecting-IP": "192.0.2.44" },
    });
    expect(outside.status).toBe(403);
    const body = (await outside.json()) as any;
    expect(body.error.code).toBe("forbidden");
    expect(body.error.message).toMatch(/192\.0\.2\.44/);
    const inside = await sys.fetch("/v1/storage/health", {
      headers: { "CF-Connecting-IP": "10.1.7.7" },
    });
    expect(inside.status).toBe(200);
  });

  it("404 in the JSON error shape for unknown paths", async () => {
    for (const path of ["/v1/unknown/thing", "/v1/storage/not-a-route", "/elsewhere"]) {
      const { status, body } = await sys.json(path);
      expect(status, path).toBe(404);
      expect(body.error.code).toBe("not_found");
      expect(typeof body.error.message).toBe("string");
    }
  });

  it("413 before reading a body over the family cap", async () => {
    const { status, body } = await sys.json("/v1/sql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "x".repeat(1024 * 1024 + 1),
    });
    expect(status).toBe(413);
    expect(body.error.code).toBe("payload_too_large");
    expect(body.error.message).toMatch(/sql cap/);
  });

  it("restarts on the same persist dir and comes back healthy", async () => {
    const dir = sys.persistDir;
    await sys.restart();
    expect(sys.persistDir).toBe(dir);
    const { status, body } = await sys.json("/v1/health");
    expect(status).toBe(200);
    expect(body.status).toBe("ok");
  });

  it("echoes the caller's X-Request-Id, and makes one when absent", async () => {
    const res = await sys.fetch("/v1/pathway/health", {
      headers: { "X-Request-Id": "trace-me-42" },
    });
    expect(res.headers.get("x-request-id")).toBe("trace-me-42");
    const err = await sys.fetch("/v1/nothing-here");
    expect(err.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("a gateway that looks deployed and has no token", () => {
  let sys: System;
  beforeAll(async () => {
    // LAKEHOUSE_ENV other than local/test counts as deployed.
    sys = await startSystem({ vars: { LAKEHOUSE_ENV: "production" } });
  });
  afterAll(() => sys?.stop());

  it("refuses every /v1 request but health with 503 and says how to set the secret", async () => {
    const { status, body } = await sys.json("/v1/storage/health");
    expect(status).toBe(503);
    expect(body.error.code).toBe("service_unavailable");
    expect(body.error.message).toMatch(/wrangler secret put AUTH_TOKEN/);
    expect((await fetch(`${sys.url}/v1/health`)).status).toBe(200);
  });
});
