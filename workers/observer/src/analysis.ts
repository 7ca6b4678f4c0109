// Pure pieces of the cycle: how failures are grouped, how endpoints become patterns,
// how an overseer correction line becomes an op, and the heuristic texts used when no
// LLM answers.
import type { ObservedOp } from "../../../shared/types";

/** Lower-cases an error and replaces the parts that vary between occurrences (numbers, ids, quoted values). */
export function normalizeError(text: string): string {
  return text
    .toLowerCase()
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "<uuid>")
    .replace(/\b0x[0-9a-f]+\b/g, "<hex>")
    .replace(/\b[0-9a-f]{16,}\b/g, "<hex>")
    .replace(/"[^"]*"|'[^']*'/g, "<str>")
    .replace(/\d+(\.\d+)?/g, "<n>")
    .replace(/\s+/g, " ")
    .trim()
    .slice(0, 200);
}

/** An endpoint with its variable parts (numeric, uuid, long hex segments, the query string) replaced. */
export function endpointPattern(endpoint: string): string {
  const path = endpoint.split("?")[0]!.trim();
  return path
    .split("/")
    .map((seg) => (/^\d+$/.test(seg) || /^[0-9a-f-]{16,}$/i.test(seg) ? ":id" : seg))
    .join("/");
}

/** The cluster a failed op belongs to: its sig_hash, or its endpoint pattern and normalised error. */
export function clusterOf(op: ObservedOp): {
  id: string;
  sig_hash: string | null;
  endpoint: string;
  normalized_error: string;
} {
  const endpoint = endpointPattern(op.endpoint);
  const normalized = normalizeError(op.error || op.output_summary || "(no error text)");
  if (op.sig_hash)
    return {
      id: `sig:${op.sig_hash}`,
      sig_hash: op.sig_hash,
      endpoint,
      normalized_error: normalized,
    };
  return {
    id: `ep:${endpoint}|${normalized}`,
    sig_hash: null,
    endpoint,
    normalized_error: normalized,
  };
}

/**
 * One line of overseer_corrections.jsonl as an op. A line must be a JSON object; its
 * ObservedOp fields are kept when they have the right type; `endpoint` defaults to
 * "overseer/correction", `success` to true (a correction is applied knowledge), the
 * summaries to the correction text. Returns undefined for a malformed line.
 */
export function correctionToOp(line: string, now: Date): ObservedOp | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const r = v as Record<string, unknown>;
  const str = (k: string) =>
    typeof r[k] === "string" && (r[k] as string).length > 0 ? (r[k] as string) : undefined;
  const ts = str("timestamp");
  const correction = str("correction") ?? str("note") ?? str("summary");
  const op: ObservedOp = {
    timestamp: ts && Number.isFinite(Date.parse(ts)) ? ts : now.toISOString(),
    endpoint: str("endpoint") ?? "overseer/correction",
    input_summary: (str("input_summary") ?? correction ?? line).slice(0, 1000),
    success: typeof r.success === "boolean" ? r.success : true,
    duration_ms: typeof r.duration_ms === "number" && r.duration_ms >= 0 ? r.duration_ms : 0,
    output_summary: (str("output_summary") ?? correction ?? "").slice(0, 1000),
    source: "overseer_correction",
  };
  for (const k of [
    "error",
    "staffer_id",
    "sig_hash",
    "event_kind",
    "role",
    "city",
    "state",
  ] as const) {
    const s = str(k);
    if (s !== undefined) op[k] = s;
  }
  return op;
}

/** Splits new bytes of a JSONL file into complete lines; the unterminated tail is left for next time. */
export function splitCompleteLines(bytes: Uint8Array): { lines: string[]; consumed: number } {
  const lastNewline = bytes.lastIndexOf(0x0a);
  if (lastNewline < 0) return { lines: [], consumed: 0 };
  const text = new TextDecoder().decode(bytes.subarray(0, lastNewline + 1));
  return { lines: text.split("\n").slice(0, -1), consumed: lastNewline + 1 };
}

export interface ClusterView {
  id: string;
  sig_hash: string | null;
  endpoint: string;
  normalized_error: string;
  count: number;
  first_seen: string;
  last_seen: string;
  endpoints: string[];
  sample_errors: string[];
}

export function heuristicRecommendation(c: ClusterView): string {
  const where =
    c.endpoints.length > 1
      ? `${c.endpoints.length} endpoints (${c.endpoints.slice(0, 3).join(", ")})`
      : `endpoint ${c.endpoint}`;
  const kind = /timeout|timed out|deadline/.test(c.normalized_error)
    ? "a timeout: raise the caller's timeout or make the step smaller"
    : /not found|404|missing|no such/.test(c.normalized_error)
      ? "a missing resource: check that the referenced dataset, index or object exists before the call"
      : /unauthori[sz]ed|forbidden|401|403|token/.test(c.normalized_error)
        ? "an auth failure: check the token and the allow-list"
        : /invalid|expected|bad request|400|parse|schema/.test(c.normalized_error)
          ? "invalid input: validate the arguments against the contract before calling"
          : "a repeated failure: inspect the sample errors";
  return (
    `${c.count} failure(s) at ${where} between ${c.first_seen} and ${c.last_seen}; the error looks like ${kind}. ` +
    `Sample: ${c.sample_errors[0] ?? c.normalized_error}`
  );
}

export function heuristicEscalation(c: ClusterView, contextNotes: string[]): string {
  return (
    `Cluster ${c.id} reached ${c.count} failures (${c.endpoints.join(", ")}). ${heuristicRecommendation(c)} ` +
    `Context gathered: ${contextNotes.join("; ") || "none"}. No LLM answered; a person should look at this cluster.`
  );
}
