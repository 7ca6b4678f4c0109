// The embed Worker in workerd: the local lexical provider (deterministic, unit length,
// lexical closeness), the shared cache (hits, misses, order kept, only misses embedded,
// LRU eviction), validation, the workers-ai provider through the Workers AI fake, and
// 502s naming a failing provider.
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { describeIssues } from "../../../shared/field-errors";
import worker from "../src/index";
import { EmbedBody } from "../src/openapi";

type Json = any;

async function call(
  path: string,
  json?: unknown,
  bindings?: Record<string, unknown>,
): Promise<{ status: number; body: Json }> {
  const req = new Request(`http://x/embed${path}`, {
    method: json === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json" },
    body: json === undefined ? undefined : JSON.stringify(json),
  });
  const res = bindings
    ? await worker.fetch(req, { ...env, ...bindings } as Env, {} as ExecutionContext)
    : await exports.default.fetch(req);
  return { status: res.status, body: await res.json() };
}

function cos(a: number[], b: number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

describe("the local provider and the cache", () => {
  it("embeds deterministically into unit-length 768-d vectors; different texts differ; lexical closeness", async () => {
    const texts = [
      "the quick brown fox",
      "the quick brown fox",
      "a slow green turtle",
      "quick brown foxes jump",
    ];
    const { status, body } = await call("", { texts });
    expect(status).toBe(200);
    expect(body.model).toBe("local-lexical-768");
    expect(body.dimension).toBe(768);
    expect(body.vectors).toHaveLength(4);
    const [a, a2, b, c] = body.vectors as number[][];
    expect(a2).toEqual(a);
    expect(b).not.toEqual(a);
    expect(Math.sqrt(cos(a!, a!))).toBeCloseTo(1, 5);
    expect(cos(a!, c!)).toBeGreaterThan(cos(a!, b!));
    const again = await call("", { texts: ["the quick brown fox"] });
    expect(again.body.vectors[0]).toEqual(a);
  });

  it("counts hits and misses in /embed/stats and asks the provider only for misses, keeping order", async () => {
    const before = (await call("/stats")).body;
    const first = await call("", { texts: ["alpha one", "beta two"] });
    expect(first.body.cache_hits).toBe(0);
    const mixed = await call("", { texts: ["gamma three", "alpha one", "delta four", "beta two"] });
    expect(mixed.body.cache_hits).toBe(2);
    expect(mixed.body.vectors[1]).toEqual(first.body.vectors[0]);
    expect(mixed.body.vectors[3]).toEqual(first.body.vectors[1]);
    const solo = await call("", { texts: ["gamma three"] });
    expect(solo.body.vectors[0]).toEqual(mixed.body.vectors[0]);
    const after = (await call("/stats")).body;
    expect(after.hits - before.hits).toBe(3);
    expect(after.misses - before.misses).toBe(4);
    expect(after.size).toBeGreaterThanOrEqual(4);
    expect(after.hit_rate).toBeCloseTo(after.hits / (after.hits + after.misses), 10);
  });

  it("evicts the least recently used entry beyond cache_size", async () => {
    const small = { LH_EMBEDD_CACHE_SIZE: "3" };
    await call("", { texts: ["lru one", "lru two", "lru three"] }, small);
    expect((await call("/stats", undefined, small)).body.size).toBe(3);
    await call("", { texts: ["lru one"] }, small); // one is now most recent
    await call("", { texts: ["lru four"] }, small); // evicts two
    const probe = await call("", { texts: ["lru one", "lru three", "lru four"] }, small);
    expect(probe.body.cache_hits).toBe(3);
    const evicted = await call("", { texts: ["lru two"] }, small);
    expect(evicted.body.cache_hits).toBe(0);
  });

  it("rejects empty text, no texts, non-strings and an unknown local model with 400 naming them", async () => {
    const cases: [unknown, RegExp][] = [
      [{ texts: ["ok", "   "] }, /texts\[1\]: empty text/],
      [{ texts: [] }, /texts: expected a non-empty array/],
      [{ texts: ["ok", 5] }, /texts\[1\]: expected a string, got 5/],
      [{}, /texts: expected a non-empty array/],
      [{ texts: ["ok"], model: "gpt-9" }, /model: "gpt-9" is not served by provider local/],
    ];
    for (const [json, message] of cases) {
      const r = await call("", json);
      expect(r.status).toBe(400);
      expect(r.body.error.message).toMatch(message);
    }
    const many = await call("", { texts: Array.from({ length: 2049 }, (_, i) => `t${i}`) });
    expect(many.status).toBe(400);
    expect(many.body.error.message).toMatch(/at most 2048 texts/);
  });
});

describe("the OpenAPI document", () => {
  it("lists POST /embed and GET /embed/stats", async () => {
    const { body } = await call("/openapi.json");
    expect(body.paths["/embed"].post).toBeDefined();
    expect(body.paths["/embed/stats"].get).toBeDefined();
  });

  it("lists every embed route with its method, and nothing else", async () => {
    const { body } = await call("/openapi.json");
    const listed = Object.entries(body.paths as Record<string, object>).flatMap(([path, item]) =>
      Object.keys(item).map((m) => `${m} ${path}`),
    );
    expect(listed.sort()).toEqual(["get /embed/stats", "post /embed"]);
    const schema = body.paths["/embed"].post.requestBody.content["application/json"].schema;
    expect(schema.required).toEqual(["texts"]);
    expect(schema.properties.texts).toMatchObject({
      type: "array",
      minItems: 1,
      items: { type: "string" },
    });
  });

  it("validates POST /embed with the schema it documents: the 400 names each issue's field and value", async () => {
    const bad = { texts: ["fine", "  ", 7], model: "" };
    const parsed = EmbedBody.safeParse(bad);
    expect(parsed.success).toBe(false);
    const r = await call("", bad);
    expect(r.status).toBe(400);
    expect(r.body.error).toEqual({
      code: "bad_request",
      message: describeIssues(parsed.error!.issues),
    });
    expect(r.body.error.message).toBe(
      'texts[1]: empty text; texts[2]: expected a string, got 7; model: expected a non-empty string, got ""',
    );
    // Without a content type the body is still read as JSON (no 415); not an object is a 400.
    const untyped = await exports.default.fetch("http://x/embed", {
      method: "POST",
      body: JSON.stringify(["a"]),
    });
    expect(untyped.status).toBe(400);
    expect(((await untyped.json()) as Json).error.message).toBe(
      "request body must be a JSON object",
    );
    const plain = await exports.default.fetch("http://x/embed", {
      method: "POST",
      body: JSON.stringify({ texts: ["no content type"] }),
    });
    expect(plain.status).toBe(200);
    const empty = await exports.default.fetch("http://x/embed", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "",
    });
    expect(((await empty.json()) as Json).error.message).toMatch(/request body is empty/);
  });
});

describe("remote providers", () => {
  const ai = { LH_EMBEDD_PROVIDER: "workers-ai" };

  it("workers-ai: bge-base through the AI binding, batched under its 100-text limit, cached", async () => {
    const texts = Array.from({ length: 130 }, (_, i) => `document number ${i}`);
    const { status, body } = await call("", { texts }, ai);
    expect(status).toBe(200);
    expect(body.model).toBe("@cf/baai/bge-base-en-v1.5");
    expect(body.dimension).toBe(768);
    expect(body.vectors).toHaveLength(130);
    const local = await call("", { texts: ["document number 0"] });
    expect(local.body.vectors[0]).not.toEqual(body.vectors[0]); // another model, another cache key
    const again = await call("", { texts: ["document number 129", "document number 0"] }, ai);
    expect(again.body.cache_hits).toBe(2);
    expect(again.body.vectors[0]).toEqual(body.vectors[129]);
  });

  it("a failing provider is a 502 naming it", async () => {
    const failing = await call("", { texts: ["fine", "this one __fail__s"] }, ai);
    expect(failing.status).toBe(502);
    expect(failing.body.error.code).toBe("bad_gateway");
    expect(failing.body.error.message).toMatch(/embedding provider workers-ai failed: .*capacity/);
    const unknownModel = await call("", { texts: ["x"], model: "@cf/nope" }, ai);
    expect(unknownModel.status).toBe(502);
    expect(unknownModel.body.error.message).toMatch(/workers-ai failed: .*No such model/);
    // Dev has no AI binding (only the test configuration binds the fake): the 502 says why and what to use.
    const unbound = await call("", { texts: ["x"] }, { ...ai, AI: undefined });
    expect(unbound.status).toBe(502);
    expect(unbound.body.error.message).toMatch(
      /workers-ai failed: the AI binding is not configured .*\[env\.production\].*provider = "local"/,
    );
    const ollama = await call(
      "",
      { texts: ["x"] },
      { LH_EMBEDD_PROVIDER: "ollama", LH_EMBEDD_PROVIDER_URL: "http://127.0.0.1:9" },
    );
    expect(ollama.status).toBe(502);
    expect(ollama.body.error.message).toMatch(/embedding provider ollama failed/);
    const openai = await call(
      "",
      { texts: ["x"] },
      { LH_EMBEDD_PROVIDER: "openai", LH_EMBEDD_PROVIDER_URL: "http://127.0.0.1:9" },
    );
    expect(openai.status).toBe(502);
    expect(openai.body.error.message).toMatch(
      /embedding provider openai failed: secret EMBED_API_KEY is not set/,
    );
    const withKey = await call(
      "",
      { texts: ["x"] },
      {
        LH_EMBEDD_PROVIDER: "openai",
        LH_EMBEDD_PROVIDER_URL: "http://127.0.0.1:9",
        EMBED_API_KEY: "k",
      },
    );
    expect(withKey.status).toBe(502);
    expect(withKey.body.error.message).toMatch(/embedding provider openai failed/);
  });
});
