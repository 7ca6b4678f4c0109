// ObservedOp: the zod schema that validates an event (POST /observer/event validates its body
// with it, POST /observer/events each item of the batch; both documented in
// /observer/openapi.json), the seed's defaults (missing timestamp → now, missing source →
// "mcp", empty endpoint → rejected), and the in-memory ring with its stats.
import { z } from "@hono/zod-openapi";
import { LakehouseError, payloadTooLarge } from "../../../shared/errors";
import { describeIssues } from "../../../shared/field-errors";
import { parseJsonBounded, truncateUtf8, utf8Length } from "../../../shared/json-limits";
import type { ObservedOp, ObservedSource } from "../../../shared/types";

export const SOURCES: readonly ObservedSource[] = [
  "mcp",
  "scenario",
  "langfuse",
  "overseer_correction",
  "workflow",
  "inbox",
];

const STRING_FIELDS = [
  "input_summary",
  "output_summary",
  "error",
  "staffer_id",
  "sig_hash",
  "event_kind",
  "role",
  "city",
  "state",
] as const;
const BOOL_FIELDS = ["rescue_attempted", "rescue_succeeded"] as const;

export type Normalized =
  | { ok: true; op: ObservedOp; ts_ms: number }
  | { ok: false; message: string };

export function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/**
 * A query parameter or field where "" means absent, as before the schemas. `build` gets the
 * error to put on its checks: a union reports the closest option's own issue, not its own.
 */
export function orBlank<T extends z.ZodType>(
  expected: string,
  build: (error: (iss: { input?: unknown }) => string) => T,
) {
  const error = (iss: { input?: unknown }) => `${expected}, got ${show(iss.input)}`;
  return z.union([build(error), z.literal("")], { error });
}

const text = z.string({ error: (iss) => `expected a string, got ${show(iss.input)}` }).nullish();
const flag = z.boolean({ error: (iss) => `expected true or false, got ${show(iss.input)}` });
const rfc3339 = (iss: { input?: unknown }) => `expected an RFC 3339 time, got ${show(iss.input)}`;
const endpointMessage = (iss: { input?: unknown }) =>
  `is required and must be a non-empty string, got ${show(iss.input)}`;
const nonNegative = (iss: { input?: unknown }) =>
  `expected a non-negative number, got ${show(iss.input)}`;

/** One event as sent (DESIGN §6 ObservedOp); absent fields get the seed's defaults. */
export const ObservedOpInput = z
  .strictObject(
    {
      timestamp: z
        .string({ error: rfc3339 })
        .refine((t) => t === "" || (t.length <= 64 && Number.isFinite(Date.parse(t))), {
          error: rfc3339,
        })
        .nullish()
        .openapi({
          description: 'RFC 3339; absent, null or "" → now',
          example: "2026-01-02T03:04:05Z",
        }),
      endpoint: z
        .string({ error: endpointMessage })
        .regex(/\S/, { error: endpointMessage })
        .openapi({
          description: "what ran: an endpoint or a step (non-empty)",
          example: "/v1/sql",
        }),
      input_summary: text,
      success: flag.optional().openapi({ description: "default false" }),
      duration_ms: z.number({ error: nonNegative }).min(0, { error: nonNegative }).optional(),
      output_summary: text,
      error: text,
      source: orBlank(`expected one of ${SOURCES.join(", ")}`, (error) =>
        z.enum(SOURCES as [ObservedSource, ...ObservedSource[]], { error }),
      )
        .nullish()
        .openapi({ description: "default mcp" }),
      staffer_id: text,
      sig_hash: text.openapi({ description: "failures with the same sig_hash form a cluster" }),
      event_kind: text,
      role: text,
      city: text,
      state: text,
      count: z.number({ error: (iss) => `expected a number, got ${show(iss.input)}` }).nullish(),
      rescue_attempted: flag.nullish(),
      rescue_succeeded: flag.nullish(),
    },
    { error: (iss) => `expected a JSON object, got ${show(iss.input)}` },
  )
  .openapi("ObservedOpInput");
export type ObservedOpInput = z.output<typeof ObservedOpInput>;

/**
 * Per-field caps of a stored ObservedOp, in UTF-8 bytes (docs/observer.md "Field caps"). A
 * longer value is cut and ends with `…[truncated N bytes]` (N = the bytes cut), the whole
 * within the cap. The summaries and error take [observerd].max_summary_bytes (4 KiB);
 * identifiers and labels 256 B (the Go seed's sanitiser capped fields at 256 characters);
 * the endpoint 512 B. So one op is at most ≈ 3 × 4 KiB + 2.5 KiB of JSON.
 */
export const FIELD_CAPS = {
  endpoint: 512,
  staffer_id: 256,
  sig_hash: 256,
  event_kind: 256,
  role: 256,
  city: 256,
  state: 256,
  timestamp: 64,
  source: 64,
} as const;
export const SUMMARY_FIELDS = ["input_summary", "output_summary", "error"] as const;

/**
 * The op within its field caps (a new object when something was cut, else the same one). Also
 * applied to rows an older version stored uncapped, as they are read, so no stored op can
 * make the object hold more than the caps allow. Fields of the wrong type are dropped.
 */
export function capOp(op: ObservedOp, summaryBytes: number): ObservedOp {
  let out: ObservedOp | undefined;
  const set = (k: string, v: unknown) => {
    out ??= { ...op };
    if (v === undefined) delete (out as unknown as Record<string, unknown>)[k];
    else (out as unknown as Record<string, unknown>)[k] = v;
  };
  const rec = op as unknown as Record<string, unknown>;
  for (const [k, cap] of Object.entries(FIELD_CAPS)) {
    const v = rec[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== "string")
      set(k, k === "endpoint" || k === "timestamp" ? String(v) : undefined);
    const cur = (out ?? op) as unknown as Record<string, unknown>;
    if (typeof cur[k] === "string") {
      const t = truncateUtf8(cur[k] as string, cap);
      if (t !== cur[k]) set(k, t);
    }
  }
  for (const k of SUMMARY_FIELDS) {
    const v = rec[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== "string") {
      set(k, k === "error" ? undefined : "");
      continue;
    }
    const t = truncateUtf8(v, summaryBytes);
    if (t !== v) set(k, t);
  }
  // Anything an older version or a foreign writer added beyond the ObservedOp fields is dropped.
  for (const k of Object.keys(rec)) if (!KNOWN_FIELDS.has(k)) set(k, undefined);
  return out ?? op;
}
const KNOWN_FIELDS = new Set<string>([
  "timestamp",
  "endpoint",
  "input_summary",
  "success",
  "duration_ms",
  "output_summary",
  "error",
  "source",
  "staffer_id",
  "sig_hash",
  "event_kind",
  "role",
  "city",
  "state",
  "count",
  "rescue_attempted",
  "rescue_succeeded",
]);

/** Bytes an op takes as stored JSON (what the ring's byte bound counts). */
export function opBytes(op: ObservedOp): number {
  return utf8Length(JSON.stringify(op));
}

/** A validated event with the defaults filled in, and its time in epoch ms. */
export function withDefaults(r: ObservedOpInput, now: Date): { op: ObservedOp; ts_ms: number } {
  const timestamp = r.timestamp ? r.timestamp : now.toISOString();
  const op: ObservedOp = {
    timestamp,
    endpoint: r.endpoint,
    input_summary: "",
    success: r.success === true,
    duration_ms: r.duration_ms ?? 0,
    output_summary: "",
    source: r.source ? r.source : "mcp",
  };
  for (const k of STRING_FIELDS) {
    const v = r[k];
    if (typeof v === "string") op[k] = v;
  }
  for (const k of BOOL_FIELDS) {
    const v = r[k];
    if (typeof v === "boolean") op[k] = v;
  }
  if (typeof r.count === "number") op.count = r.count;
  return { op, ts_ms: r.timestamp ? Date.parse(r.timestamp) : now.getTime() };
}

/** Validates one event with ObservedOpInput and fills the defaults. `where` names it in messages (`events[3]`). */
export function normalizeOp(raw: unknown, now: Date, where = "event"): Normalized {
  const r = ObservedOpInput.safeParse(raw);
  if (!r.success) return { ok: false, message: describeIssues(r.error.issues, where) };
  return { ok: true, ...withDefaults(r.data, now) };
}

/**
 * POST /observer/event's checks, wherever the body arrives: the observer Worker's route, or the
 * gateway straight into the shard's object (Observer.event, issue #15). The body within
 * [observerd].max_event_bytes (413, worded as readBoundedText words it: the declared length, or
 * "more than" for a body sent without one), JSON within the depth limit (400), then
 * ObservedOpInput with the seed's defaults (400 naming the field). Throws LakehouseError.
 */
export function eventFromBody(
  body: ArrayBuffer | Uint8Array | string,
  declaredLength: number | null,
  cap: number,
  now: Date,
): { op: ObservedOp; ts_ms: number } {
  const what = "[observerd].max_event_bytes";
  if (declaredLength !== null && declaredLength > cap)
    throw payloadTooLarge(`body of ${declaredLength} bytes is over the ${cap}-byte cap (${what})`);
  const bytes = typeof body === "string" ? utf8Length(body) : body.byteLength;
  if (bytes > cap)
    throw payloadTooLarge(`body of more than ${cap} bytes is over the ${cap}-byte cap (${what})`);
  const text = typeof body === "string" ? body : new TextDecoder().decode(body);
  const n = normalizeOp(parseJsonBounded(text, "request body"), now, "body");
  if (!n.ok) throw new LakehouseError("bad_request", n.message);
  return { op: n.op, ts_ms: n.ts_ms };
}

export interface RingStats {
  total: number;
  /** Bytes the ring holds and its byte bound ([observerd].ring_max_bytes). */
  ring_bytes?: number;
  ring_max_bytes?: number;
  successes: number;
  failures: number;
  by_source: Record<string, number>;
  recent_scenario_ops: ObservedOp[];
}

/** A ring as columns, oldest first; `recent`: its last scenario ops, newest last. */
export interface RingDigest {
  ids: number[];
  bytes: number[];
  success: number[];
  sources: string[];
  recent: { id: number; op: ObservedOp }[];
}

/**
 * A ring of ops bounded in count (`cap`) and in bytes (`maxBytes`, each op counted as its
 * stored JSON) with running counters: it holds the newest ops that fit both bounds, evicting
 * the oldest. The newest op is always kept (the field caps make one op a few KiB).
 */
export class Ring {
  private items: (ObservedOp | undefined)[];
  private sizes: number[];
  private ids: number[];
  private head = 0; // index of the oldest
  private size = 0;
  private bytesHeld = 0;
  private successes = 0;
  private bySource = new Map<string, number>();

  constructor(
    readonly cap: number,
    private readonly recentScenarioCap: number,
    readonly maxBytes = Number.MAX_SAFE_INTEGER,
  ) {
    this.items = new Array(cap);
    this.sizes = new Array(cap).fill(0);
    this.ids = new Array(cap).fill(0);
  }

  get length(): number {
    return this.size;
  }

  /** Bytes the ring holds (the ops as stored JSON). */
  get bytes(): number {
    return this.bytesHeld;
  }

  private evictOldest(): void {
    const old = this.items[this.head]!;
    this.count(old, -1);
    this.bytesHeld -= this.sizes[this.head]!;
    this.items[this.head] = undefined;
    this.sizes[this.head] = 0;
    this.head = (this.head + 1) % this.cap;
    this.size--;
  }

  /** `id`: the op's id in the log (what a merge across shards orders by). */
  push(op: ObservedOp, bytes = opBytes(op), id = 0): void {
    if (this.size === this.cap) this.evictOldest();
    while (this.size > 0 && this.bytesHeld + bytes > this.maxBytes) this.evictOldest();
    const at = (this.head + this.size) % this.cap;
    this.items[at] = op;
    this.sizes[at] = bytes;
    this.ids[at] = id;
    this.size++;
    this.bytesHeld += bytes;
    this.count(op, 1);
  }

  private count(op: ObservedOp, d: number): void {
    if (op.success) this.successes += d;
    const s = op.source ?? "mcp";
    const n = (this.bySource.get(s) ?? 0) + d;
    if (n === 0) this.bySource.delete(s);
    else this.bySource.set(s, n);
  }

  /** The ops oldest first. */
  toArray(): ObservedOp[] {
    const out: ObservedOp[] = [];
    for (let i = 0; i < this.size; i++) out.push(this.items[(this.head + i) % this.cap]!);
    return out;
  }

  /**
   * The ring in compact columns, oldest first (ids, bytes, success flags, sources) and its last
   * `recentScenarioCap` scenario ops with their ids: what a merge across shards needs
   * (shards.ts mergeRings) without moving the ops themselves.
   */
  digest(): RingDigest {
    const d: RingDigest = { ids: [], bytes: [], success: [], sources: [], recent: [] };
    for (let i = 0; i < this.size; i++) {
      const at = (this.head + i) % this.cap;
      const op = this.items[at]!;
      d.ids.push(this.ids[at]!);
      d.bytes.push(this.sizes[at]!);
      d.success.push(op.success ? 1 : 0);
      d.sources.push(op.source ?? "mcp");
    }
    for (let i = this.size - 1; i >= 0 && d.recent.length < this.recentScenarioCap; i--) {
      const at = (this.head + i) % this.cap;
      if (this.items[at]!.source === "scenario")
        d.recent.push({ id: this.ids[at]!, op: this.items[at]! });
    }
    d.recent.reverse();
    return d;
  }

  stats(): RingStats {
    const recent: ObservedOp[] = [];
    for (let i = this.size - 1; i >= 0 && recent.length < this.recentScenarioCap; i--) {
      const op = this.items[(this.head + i) % this.cap]!;
      if (op.source === "scenario") recent.push(op);
    }
    recent.reverse(); // newest last
    return {
      total: this.size,
      ring_bytes: this.bytesHeld,
      ring_max_bytes: this.maxBytes,
      successes: this.successes,
      failures: this.size - this.successes,
      by_source: Object.fromEntries(
        [...this.bySource.entries()].sort(([a], [b]) => a.localeCompare(b)),
      ),
      recent_scenario_ops: recent,
    };
  }
}
