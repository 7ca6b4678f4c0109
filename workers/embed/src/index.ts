// lakehouse-embed: POST /embed and GET /embed/stats (DESIGN §6 Embed).
// Texts are looked up in the shared EmbedCache by model + SHA-256(text); only the misses
// go to the provider, and the answer keeps the request's order.
import { documentEmbed } from "./openapi";
import { createServiceApp, readJsonObject } from "../../../shared/app";
import { LakehouseError, badRequest } from "../../../shared/errors";
import { lakehouseConfig } from "../../../shared/lakehouse-config";
import { embedWithProvider, resolveModel, type ProviderEnv } from "./providers";

const { app, api } = createServiceApp<Env>("embed", "embed", {
  health: (env) => ({ provider: lakehouseConfig(env).embedd.provider }),
});
documentEmbed(api);

function cache(env: Env) {
  return env.EMBED_CACHE.get(env.EMBED_CACHE.idFromName("cache"));
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  const bytes = new Uint8Array(digest);
  let hex = "";
  for (let i = 0; i < bytes.length; i++) hex += bytes[i]!.toString(16).padStart(2, "0");
  return hex;
}

api.post("/", async (c) => {
  const body = await readJsonObject(c);
  const cfg = lakehouseConfig(c.env).embedd;
  const texts = body.texts;
  if (!Array.isArray(texts) || texts.length === 0) throw badRequest("texts: expected a non-empty array of strings");
  if (texts.length > cfg.max_texts) throw badRequest(`texts: at most ${cfg.max_texts} texts per request, got ${texts.length}`);
  texts.forEach((t, i) => {
    if (typeof t !== "string") throw badRequest(`texts[${i}]: expected a string, got ${JSON.stringify(t)}`);
    if (t.trim() === "") throw badRequest(`texts[${i}]: empty text`);
  });
  if (body.model !== undefined && (typeof body.model !== "string" || body.model === "")) throw badRequest(`model: expected a non-empty string`);
  const model = resolveModel(cfg, body.model as string | undefined);
  const strings = texts as string[];
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
      await cache(c.env).store([...entries].map(([key, vector]) => ({ key, vector })), cfg.cache_size);
    }
  }
  const dimension = vectors[0]!.length;
  return c.json({ model, dimension, vectors, cache_hits: hits });
});

api.get("/stats", async (c) => {
  const cfg = lakehouseConfig(c.env).embedd;
  const s = await cache(c.env).stats(cfg.cache_size);
  return c.json({ ...s, provider: cfg.provider });
});

// Requests that do not parse as an embed request: a clearer 400 than a bare 404 for GET /embed.
api.get("/", () => {
  throw new LakehouseError("method_not_allowed", "use POST /embed with {\"texts\": [...]}");
});

export { EmbedCache } from "./embedCache";
export { FakeAi } from "../../../test/fakes/workers-ai/index";
export default app satisfies ExportedHandler<Env>;
