// The LLM behind review, recommendations and escalations, chosen by [llm].provider:
//   none        — no call; callers use their heuristic
//   workers-ai  — env.AI.run(model, { messages }) (AI binding, production environment only)
//   ollama      — POST <url>/api/chat { model, messages, stream: false }
//   openai      — POST <url>/chat/completions { model, messages } (OpenAI-compatible; LLM_API_KEY secret as bearer)
// HTTP providers go through the `LLM` service binding when one is bound (a Worker in front
// of the provider, or the fake LLM Worker in tests), else through fetch. Every call is
// bounded by [llm].timeout_ms (or the caller's tighter budget); a failure is an LlmError,
// never a lost record.
import { withTimeout } from "../../../shared/clients";
import { lakehouseConfig } from "../../../shared/lakehouse-config";

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export class LlmError extends Error {}

export interface LlmEnv {
  AI?: { run(model: string, input: unknown): Promise<unknown> };
  LLM?: { fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> };
  LLM_API_KEY?: string;
}

export interface LlmSettings {
  provider: string;
  model: string;
  url: string;
  timeout_ms: number;
}

export function llmSettings(env: object): LlmSettings {
  return lakehouseConfig(env).llm;
}

/** One chat completion. Returns the assistant's text; throws LlmError on any failure. */
export async function chat(
  env: LlmEnv & object,
  messages: ChatMessage[],
  timeoutMs?: number,
): Promise<{ text: string; model: string }> {
  const s = llmSettings(env);
  if (s.provider === "none")
    throw new LlmError('no LLM provider configured ([llm].provider = "none")');
  if (!s.model) throw new LlmError(`[llm].model is empty for provider ${s.provider}`);
  const ms = Math.min(s.timeout_ms, timeoutMs ?? Infinity);
  const what = `${s.provider} model ${s.model}`;
  try {
    return await withTimeout(
      ms,
      async (signal) => {
        if (s.provider === "workers-ai") {
          if (!env.AI)
            throw new LlmError(
              "provider workers-ai needs the AI binding (declared in [env.production] of workers/observer/wrangler.toml)",
            );
          const out = (await env.AI.run(s.model, { messages })) as { response?: unknown };
          if (typeof out?.response !== "string") throw new LlmError(`${what} returned no text`);
          return { text: out.response, model: s.model };
        }
        if (!s.url) throw new LlmError(`[llm].url is empty for provider ${s.provider}`);
        const base = s.url.replace(/\/+$/, "");
        const url = s.provider === "ollama" ? `${base}/api/chat` : `${base}/chat/completions`;
        const headers: Record<string, string> = { "content-type": "application/json" };
        if (s.provider === "openai" && env.LLM_API_KEY)
          headers.authorization = `Bearer ${env.LLM_API_KEY}`;
        const body =
          s.provider === "ollama"
            ? { model: s.model, messages, stream: false }
            : { model: s.model, messages };
        const doFetch = env.LLM ? env.LLM.fetch.bind(env.LLM) : fetch;
        const res = await doFetch(url, {
          method: "POST",
          headers,
          body: JSON.stringify(body),
          signal,
        });
        if (!res.ok)
          throw new LlmError(
            `${what} answered HTTP ${res.status}: ${(await res.text().catch(() => "")).slice(0, 200)}`,
          );
        const json = (await res.json().catch(() => undefined)) as
          | { message?: { content?: unknown }; choices?: { message?: { content?: unknown } }[] }
          | undefined;
        const text =
          s.provider === "ollama" ? json?.message?.content : json?.choices?.[0]?.message?.content;
        if (typeof text !== "string")
          throw new LlmError(`${what} answered without message content`);
        return { text, model: s.model };
      },
      () => new LlmError(`${what} timed out after ${ms} ms`),
    );
  } catch (err) {
    if (err instanceof LlmError) throw err;
    throw new LlmError(`${what} failed: ${(err as Error).message}`);
  }
}

/** The first JSON object in a model's text (models wrap JSON in prose or code fences). */
export function extractJsonObject(text: string): Record<string, unknown> | undefined {
  const start = text.indexOf("{");
  const end = text.lastIndexOf("}");
  if (start < 0 || end <= start) return undefined;
  try {
    const v = JSON.parse(text.slice(start, end + 1));
    return typeof v === "object" && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
