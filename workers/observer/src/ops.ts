// ObservedOp: the zod schema that validates an event (POST /observer/event validates its body
// with it, POST /observer/events each item of the batch; both documented in
// /observer/openapi.json), the seed's defaults (missing timestamp → now, missing source →
// "mcp", empty endpoint → rejected), and the in-memory ring with its stats.
import { z } from "@hono/zod-openapi";
import { describeIssues } from "../../../shared/field-errors";
import type { ObservedOp, ObservedSource } from "../../../shared/types";

export const SOURCES: readonly ObservedSource[] = ["mcp", "scenario", "langfuse", "overseer_correction", "workflow", "inbox"];

const STRING_FIELDS = ["input_summary", "output_summary", "error", "staffer_id", "sig_hash", "event_kind", "role", "city", "state"] as const;
const BOOL_FIELDS = ["rescue_attempted", "rescue_succeeded"] as const;

export type Normalized = { ok: true; op: ObservedOp; ts_ms: number } | { ok: false; message: string };

export function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/**
 * A query parameter or field where "" means absent, as before the schemas. `build` gets the
 * error to put on its checks: a union reports the closest option's own issue, not its own.
 */
export function orBlank<T extends z.ZodType>(expected: string, build: (error: (iss: { input?: unknown }) => string) => T) {
  const error = (iss: { input?: unknown }) => `${expected}, got ${show(iss.input)}`;
  return z.union([build(error), z.literal("")], { error });
}

const text = z.string({ error: (iss) => `expected a string, got ${show(iss.input)}` }).nullish();
const flag = z.boolean({ error: (iss) => `expected true or false, got ${show(iss.input)}` });
const rfc3339 = (iss: { input?: unknown }) => `expected an RFC 3339 time, got ${show(iss.input)}`;
const endpointMessage = (iss: { input?: unknown }) => `is required and must be a non-empty string, got ${show(iss.input)}`;
const nonNegative = (iss: { input?: unknown }) => `expected a non-negative number, got ${show(iss.input)}`;

/** One event as sent (DESIGN §6 ObservedOp); absent fields get the seed's defaults. */
export const ObservedOpInput = z
  .object(
    {
      timestamp: z
        .string({ error: rfc3339 })
        .refine((t) => t === "" || Number.isFinite(Date.parse(t)), { error: rfc3339 })
        .nullish()
        .openapi({ description: "RFC 3339; absent, null or \"\" → now", example: "2026-01-02T03:04:05Z" }),
      endpoint: z
        .string({ error: endpointMessage })
        .regex(/\S/, { error: endpointMessage })
        .openapi({ description: "what ran: an endpoint or a step (non-empty)", example: "/v1/sql" }),
      input_summary: text,
      success: flag.optional().openapi({ description: "default false" }),
      duration_ms: z.number({ error: nonNegative }).min(0, { error: nonNegative }).optional(),
      output_summary: text,
      error: text,
      source: orBlank(`expected one of ${SOURCES.join(", ")}`, (error) => z.enum(SOURCES as [ObservedSource, ...ObservedSource[]], { error }))
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

export interface RingStats {
  total: number;
  successes: number;
  failures: number;
  by_source: Record<string, number>;
  recent_scenario_ops: ObservedOp[];
}

/** A fixed-capacity ring of ops with running counters; a full ring evicts the oldest. */
export class Ring {
  private items: (ObservedOp | undefined)[];
  private head = 0; // index of the oldest
  private size = 0;
  private successes = 0;
  private bySource = new Map<string, number>();

  constructor(readonly cap: number, private readonly recentScenarioCap: number) {
    this.items = new Array(cap);
  }

  get length(): number {
    return this.size;
  }

  push(op: ObservedOp): void {
    if (this.size === this.cap) {
      const old = this.items[this.head]!;
      this.count(old, -1);
      this.items[this.head] = op;
      this.head = (this.head + 1) % this.cap;
    } else {
      this.items[(this.head + this.size) % this.cap] = op;
      this.size++;
    }
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

  stats(): RingStats {
    const recent: ObservedOp[] = [];
    for (let i = this.size - 1; i >= 0 && recent.length < this.recentScenarioCap; i--) {
      const op = this.items[(this.head + i) % this.cap]!;
      if (op.source === "scenario") recent.push(op);
    }
    recent.reverse(); // newest last
    return {
      total: this.size,
      successes: this.successes,
      failures: this.size - this.successes,
      by_source: Object.fromEntries([...this.bySource.entries()].sort(([a], [b]) => a.localeCompare(b))),
      recent_scenario_ops: recent,
    };
  }
}
