// lakehouse-embed: POST /embed and GET /embed/stats (DESIGN §6 Embed).
// Texts are looked up in the shared EmbedCache by model + SHA-256(text); only the misses
// go to the provider, and the answer keeps the request's order.
// Both routes are declared with createRoute: EmbedBody (openapi.ts) validates the request and
// is what GET /embed/openapi.json documents; the [embedd].max_texts cap is checked here first.
import { createRoute } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { type AppEnv, createServiceApp, jsonBody, jsonResponse } from "../../../shared/app";
import { badRequest, LakehouseError } from "../../../shared/errors";
import { fieldErrors } from "../../../shared/field-errors";
import { sha256Hex } from "../../../shared/hash";
import { lakehouseConfig } from "../../../shared/lakehouse-config";
import { EmbedBody, EmbedError, EmbedResult, EmbedStats } from "./openapi";
import { embedWithProvider, type ProviderEnv, resolveModel } from "./providers";

const { app, api } = createServiceApp<Env>("embed", "embed", {
  health: (env) => ({ provider: lakehouseConfig(env).embedd.provider }),
});

/** Route middleware: more than [embedd].max_texts texts is a 400 before each text is validated. */
const textsCap: MiddlewareHandler<AppEnv<Env>> = async (c, next) => {
  const texts = ((await c.req.json()) as { texts?: unknown } | null)?.texts;
  const max = lakehouseConfig(c.env).embedd.max_texts;
  if (Array.isArray(texts) && texts.length > max)
    throw badRequest(`texts: at most ${max} texts per request, got ${texts.length}`);
  await next();
};

function cache(env: Env) {
  return env.EMBED_CACHE.get(env.EMBED_CACHE.idFromName("cache"));
}

api.openapi(
  createRoute({
    method: "post",
    path: "/",
    summary: "Embed texts (cached by model + SHA-256 of the text; only misses reach the provider)",
    middleware: [jsonBody, textsCap],
    request: { body: { required: true, content: { "application/json": { schema: EmbedBody } } } },
    responses: {
      200: jsonResponse(EmbedResult, "one vector per text, in order"),
      400: jsonResponse(
        EmbedError,
        "empty text, too many texts, unknown model (the message names the field and value)",
      ),
      502: jsonResponse(EmbedError, "the provider failed (named in the message)"),
    },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const cfg = lakehouseConfig(c.env).embedd;
    const model = resolveModel(cfg, body.model);
    const strings = body.texts;
    const env = c.env as unknown as ProviderEnv;

    let vectors: number[][];
    let hits = 0;
    if (cfg.cache_size === 0) {
      vectors = await embedWithProvider(model, strings, cfg, env);
    } else {
      const keys = await Promise.all(strings.map(async (t) => `${model}\n${await sha256Hex(t)}`));
      const found = await cache(c.env).lookup(keys);
      vectors = new Array(strings.length);
      const missIdx: number[] = [];
      found.forEach((buf, i) => {
        if (buf) {
          vectors[i] = Array.from(new Float32Array(buf));
          hits++;
        } else missIdx.push(i);
      });
      if (missIdx.length > 0) {
        // Ask once per distinct missing text.
        const distinct = [...new Set(missIdx.map((i) => strings[i]!))];
        const fresh = await embedWithProvider(model, distinct, cfg, env);
        const byText = new Map(distinct.map((t, j) => [t, fresh[j]!]));
        const entries = new Map<string, ArrayBuffer>();
        for (const i of missIdx) {
          const f32 = Float32Array.from(byText.get(strings[i]!)!);
          vectors[i] = Array.from(f32);
          entries.set(keys[i]!, f32.buffer);
        }
        await cache(c.env).store(
          [...entries].map(([key, vector]) => ({ key, vector })),
          cfg.cache_size,
        );
      }
    }
    const dimension = vectors[0]!.length;
    return c.json({ model, dimension, vectors, cache_hits: hits }, 200);
  },
  fieldErrors,
);

api.openapi(
  createRoute({
    method: "get",
    path: "/stats",
    summary: "Cache statistics, shared by every embed isolate",
    responses: { 200: jsonResponse(EmbedStats, "stats") },
  }),
  async (c) => {
    const cfg = lakehouseConfig(c.env).embedd;
    const s = await cache(c.env).stats(cfg.cache_size);
    return c.json({ ...s, provider: cfg.provider }, 200);
  },
);

// Requests that do not parse as an embed request: a clearer 400 than a bare 404 for GET /embed.
api.get("/", () => {
  throw new LakehouseError("method_not_allowed", 'use POST /embed with {"texts": [...]}');
});

export { EmbedCache } from "./embed-cache";
export default app satisfies ExportedHandler<Env>;
