// POST /review: an answer judged against its source. The LLM gives the verdict when
// [llm] names a provider; without one, or when it fails, times out or answers nonsense,
// a deterministic heuristic over the grounding stats does, marked "source": "heuristic".
import { z } from "@hono/zod-openapi";
import { chat, extractJsonObject, type LlmEnv, LlmError } from "./llm";

export type Verdict = "accept" | "reject" | "cycle";
export const MAX_ATTEMPTS = 3;

export interface ReviewInput {
  response: string;
  source_content: string;
  grounding_stats: Record<string, unknown>;
  model: string;
  attempt: number;
}

export interface ReviewVerdict {
  verdict: Verdict;
  confidence: number;
  notes: string;
  source: "llm" | "heuristic";
  model: string | null;
  llm_error: string | null;
}

const got = (v: unknown) => JSON.stringify(v) ?? String(v);
const aString = (iss: { input?: unknown }) => `expected a string, got ${got(iss.input)}`;
const positiveInt = (iss: { input?: unknown }) =>
  `expected a positive integer, got ${got(iss.input)}`;

/** The body of POST /observer/review: validates the request (createRoute) and documents it. */
export const ReviewBody = z
  .strictObject(
    {
      response: z
        .string({
          error: (iss) => `expected a string (the answer to review), got ${got(iss.input)}`,
        })
        .openapi({ description: "the answer to review" }),
      source_content: z
        .string({ error: aString })
        .nullish()
        .openapi({ description: "the material the answer should be grounded in" }),
      grounding_stats: z
        .record(z.string(), z.unknown(), {
          error: (iss) => `expected an object, got ${got(iss.input)}`,
        })
        .nullish()
        .openapi({ description: "e.g. grounded_ratio, or supported_claims and total_claims" }),
      model: z
        .string({ error: aString })
        .nullish()
        .openapi({ description: "the model that wrote the answer" }),
      attempt: z
        .number({ error: positiveInt })
        .int({ error: positiveInt })
        .min(1, { error: positiveInt })
        .nullish()
        .openapi({
          description: `default 1; from attempt ${MAX_ATTEMPTS} a doubtful answer is rejected rather than cycled`,
        }),
    },
    { error: "request body must be a JSON object" },
  )
  .openapi("ReviewInput");

/** A validated review body with its defaults. */
export function reviewInput(body: z.output<typeof ReviewBody>): ReviewInput {
  return {
    response: body.response,
    source_content: body.source_content ?? "",
    grounding_stats: body.grounding_stats ?? {},
    model: body.model ?? "",
    attempt: body.attempt ?? 1,
  };
}

const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

function tokens(text: string): Set<string> {
  return new Set(text.toLowerCase().match(/[a-z0-9_]{4,}/g) ?? []);
}

/** The grounded share of the answer: from the stats when they say, else the answer's words found in the source. */
export function groundingRatio(input: ReviewInput): { ratio: number | undefined; basis: string } {
  const gs = input.grounding_stats;
  for (const k of ["grounded_ratio", "grounding_ratio", "support_ratio", "grounding_score"]) {
    const v = num(gs[k]);
    if (v !== undefined)
      return { ratio: Math.min(1, Math.max(0, v)), basis: `grounding_stats.${k} = ${v}` };
  }
  const supported = num(gs.supported_claims) ?? num(gs.grounded_claims);
  const total = num(gs.total_claims) ?? num(gs.claims);
  if (supported !== undefined && total !== undefined && total > 0) {
    return {
      ratio: Math.min(1, supported / total),
      basis: `${supported} of ${total} claims supported`,
    };
  }
  if (input.source_content.trim() === "")
    return { ratio: undefined, basis: "no grounding stats and no source content" };
  const answer = tokens(input.response);
  if (answer.size === 0) return { ratio: 0, basis: "the answer has no content words" };
  const source = tokens(input.source_content);
  let found = 0;
  for (const t of answer) if (source.has(t)) found++;
  return {
    ratio: found / answer.size,
    basis: `${found} of ${answer.size} content words of the answer appear in the source`,
  };
}

export function heuristicReview(input: ReviewInput, llmError: string | null): ReviewVerdict {
  const base = { source: "heuristic" as const, model: null, llm_error: llmError };
  if (input.response.trim() === "")
    return { ...base, verdict: "reject", confidence: 0.95, notes: "the response is empty" };
  const { ratio, basis } = groundingRatio(input);
  const lastAttempt = input.attempt >= MAX_ATTEMPTS;
  const round2 = (x: number) => Math.round(x * 100) / 100;
  if (ratio === undefined) {
    return lastAttempt
      ? {
          ...base,
          verdict: "reject",
          confidence: 0.5,
          notes: `${basis}; attempt ${input.attempt} of ${MAX_ATTEMPTS}, rejecting`,
        }
      : {
          ...base,
          verdict: "cycle",
          confidence: 0.3,
          notes: `${basis}; cannot judge grounding, asking for another attempt`,
        };
  }
  if (ratio >= 0.75)
    return {
      ...base,
      verdict: "accept",
      confidence: round2(Math.min(0.95, 0.6 + (ratio - 0.75) * 1.4)),
      notes: `grounded: ${basis}`,
    };
  if (ratio >= 0.4 && !lastAttempt)
    return {
      ...base,
      verdict: "cycle",
      confidence: 0.5,
      notes: `partly grounded (${basis}); try again`,
    };
  return {
    ...base,
    verdict: "reject",
    confidence: round2(Math.min(0.95, 0.6 + (0.4 - Math.min(ratio, 0.4)) * 0.875)),
    notes: `poorly grounded: ${basis}${lastAttempt ? `; attempt ${input.attempt} was the last` : ""}`,
  };
}

const SYSTEM =
  "You review an AI answer against its source material. Reply with one JSON object only: " +
  '{"verdict": "accept" | "reject" | "cycle", "confidence": 0..1, "notes": "<one or two sentences>"}. ' +
  `"cycle" means the answer could be fixed by another attempt (at most ${MAX_ATTEMPTS} attempts).`;

export async function review(
  env: LlmEnv & object,
  input: ReviewInput,
  timeoutMs: number,
): Promise<ReviewVerdict> {
  const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}…` : s);
  const user =
    `REVIEW attempt ${input.attempt} (model ${input.model || "unknown"})\n\nGROUNDING STATS:\n${JSON.stringify(input.grounding_stats)}\n\n` +
    `SOURCE:\n${clip(input.source_content, 12_000)}\n\nANSWER:\n${clip(input.response, 8_000)}`;
  try {
    const { text, model } = await chat(
      env,
      [
        { role: "system", content: SYSTEM },
        { role: "user", content: user },
      ],
      timeoutMs,
    );
    const j = extractJsonObject(text);
    const verdict = j?.verdict;
    if (verdict !== "accept" && verdict !== "reject" && verdict !== "cycle") {
      return heuristicReview(input, `the LLM's answer had no valid verdict: ${clip(text, 200)}`);
    }
    const confidence =
      typeof j!.confidence === "number" && j!.confidence >= 0 && j!.confidence <= 1
        ? j!.confidence
        : 0.5;
    return {
      verdict,
      confidence,
      notes: typeof j!.notes === "string" ? j!.notes : "",
      source: "llm",
      model,
      llm_error: null,
    };
  } catch (err) {
    const msg =
      err instanceof LlmError ? err.message : `LLM call failed: ${(err as Error).message}`;
    return heuristicReview(input, msg.startsWith("no LLM provider configured") ? null : msg);
  }
}
