// Embedding providers: local (lexical, in-process), workers-ai (the AI binding),
// ollama (POST <url>/api/embed) and openai (POST <url>/embeddings, OpenAI-compatible).
// Each call is batched within the provider's limit and bounded by [embedd].timeout_ms;
// any failure is a 502 naming the provider.
import { withTimeout } from "../../../shared/clients";
import type { LakehouseConfig } from "../../../shared/config";
import { LakehouseError } from "../../../shared/errors";
import { lexicalEmbed } from "./lexical";

export type ProviderName = "local" | "workers-ai" | "ollama" | "openai";

/** Texts one provider call may carry: Workers AI's bge models take 100, OpenAI 2048. */
export const PROVIDER_BATCH_LIMIT: Record<ProviderName, number> = {
  local: 10_000,
  "workers-ai": 100,
  ollama: 512,
  openai: 2048,
};
export const DEFAULT_MODELS: Record<Exclude<ProviderName, "local">, string> = {
  "workers-ai": "@cf/baai/bge-base-en-v1.5",
  ollama: "nomic-embed-text",
  openai: "text-embedding-3-small",
};
const DEFAULT_URLS: Partial<Record<ProviderName, string>> = {
  ollama: "http://127.0.0.1:11434",
  openai: "https://api.openai.com/v1",
};
const PARALLEL_CALLS = 4;

/** The subset of the Workers AI binding the provider uses (the real `Ai` or the fake). */
export interface AiLike {
  run(model: string, inputs: { text: string[] }): Promise<unknown>;
}

export interface ProviderEnv {
  AI?: AiLike;
  EMBED_API_KEY?: string;
}

export function localModelName(dimension: number): string {
  return `local-lexical-${dimension}`;
}

/** The model a request uses: its own, else [embedd].default_model, else the provider's default. */
export function resolveModel(
  cfg: LakehouseConfig["embedd"],
  requested: string | undefined,
): string {
  const provider = cfg.provider as ProviderName;
  if (provider === "local") {
    const served = localModelName(cfg.dimension);
    const model =
      requested ?? (cfg.default_model.startsWith("local-") ? cfg.default_model : served);
    if (model !== served && model !== cfg.default_model) {
      throw new LakehouseError(
        "bad_request",
        `model: ${JSON.stringify(model)} is not served by provider local (it serves ${served})`,
      );
    }
    return model;
  }
  if (requested) return requested;
  return cfg.default_model && !cfg.default_model.startsWith("local-")
    ? cfg.default_model
    : DEFAULT_MODELS[provider];
}

function fail(provider: string, message: string): LakehouseError {
  return new LakehouseError("bad_gateway", `embedding provider ${provider} failed: ${message}`);
}

/** One provider call bounded by `ms`; a timeout or any other failure is a 502 naming the provider. */
async function bounded<T>(
  provider: string,
  ms: number,
  run: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  try {
    return await withTimeout(ms, run, () => fail(provider, `no answer within ${ms} ms`));
  } catch (err) {
    if (err instanceof LakehouseError) throw err;
    throw fail(provider, (err as Error)?.message ?? String(err));
  }
}

function checkVectors(provider: string, vectors: unknown, expected: number): number[][] {
  if (!Array.isArray(vectors) || vectors.length !== expected) {
    throw fail(
      provider,
      `expected ${expected} vectors, got ${Array.isArray(vectors) ? vectors.length : typeof vectors}`,
    );
  }
  for (const v of vectors) {
    if (
      !Array.isArray(v) ||
      v.length === 0 ||
      !v.every((x) => typeof x === "number" && Number.isFinite(x))
    ) {
      throw fail(provider, "answer holds a vector that is not an array of finite numbers");
    }
  }
  return vectors as number[][];
}

async function httpJson(
  provider: string,
  url: string,
  body: unknown,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<unknown> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
    signal,
  });
  const text = await res.text();
  if (!res.ok) throw fail(provider, `HTTP ${res.status} from ${url}: ${text.slice(0, 200)}`);
  try {
    return JSON.parse(text);
  } catch {
    throw fail(provider, `answer from ${url} is not JSON`);
  }
}

async function callOnce(
  provider: ProviderName,
  model: string,
  texts: string[],
  cfg: LakehouseConfig["embedd"],
  env: ProviderEnv,
): Promise<number[][]> {
  if (provider === "local") return texts.map((t) => Array.from(lexicalEmbed(t, cfg.dimension)));
  return bounded(provider, cfg.timeout_ms, async (signal) => {
    if (provider === "workers-ai") {
      if (!env.AI) {
        throw fail(
          provider,
          "the AI binding is not configured for this Worker (Workers AI cannot run locally: it is bound only in " +
            '[env.production] of workers/embed/wrangler.toml; locally use [embedd].provider = "local", "ollama" or "openai")',
        );
      }
      const out = (await env.AI.run(model, { text: texts })) as { data?: unknown };
      return checkVectors(provider, out?.data, texts.length);
    }
    const base = (cfg.provider_url || DEFAULT_URLS[provider]!).replace(/\/+$/, "");
    if (provider === "ollama") {
      const out = (await httpJson(
        provider,
        `${base}/api/embed`,
        { model, input: texts },
        {},
        signal,
      )) as { embeddings?: unknown };
      return checkVectors(provider, out?.embeddings, texts.length);
    }
    if (!env.EMBED_API_KEY)
      throw fail(provider, "secret EMBED_API_KEY is not set (wrangler secret put EMBED_API_KEY)");
    const out = (await httpJson(
      provider,
      `${base}/embeddings`,
      { model, input: texts },
      { authorization: `Bearer ${env.EMBED_API_KEY}` },
      signal,
    )) as {
      data?: { embedding: number[]; index: number }[];
    };
    if (!Array.isArray(out?.data)) throw fail(provider, "answer has no data array");
    const ordered = [...out.data].sort((a, b) => a.index - b.index).map((d) => d.embedding);
    return checkVectors(provider, ordered, texts.length);
  });
}

/** Embeds texts with the configured provider, in batches of min([embedd].batch_size, the provider's limit), order kept. */
export async function embedWithProvider(
  model: string,
  texts: string[],
  cfg: LakehouseConfig["embedd"],
  env: ProviderEnv,
): Promise<number[][]> {
  const provider = cfg.provider as ProviderName;
  const size = Math.max(1, Math.min(cfg.batch_size, PROVIDER_BATCH_LIMIT[provider]));
  const batches: string[][] = [];
  for (let i = 0; i < texts.length; i += size) batches.push(texts.slice(i, i + size));
  const results: number[][][] = new Array(batches.length);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < batches.length) {
      const i = next++;
      results[i] = await callOnce(provider, model, batches[i]!, cfg, env);
    }
  }
  await Promise.all(Array.from({ length: Math.min(PARALLEL_CALLS, batches.length) }, worker));
  const out = results.flat();
  const dim = out[0]?.length ?? 0;
  if (out.some((v) => v.length !== dim))
    throw fail(provider, "vectors of different dimensions in one answer");
  return out;
}
