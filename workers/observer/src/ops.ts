// ObservedOp: validation and the seed's defaults (missing timestamp → now, missing
// source → "mcp", empty endpoint → rejected), and the in-memory ring with its stats.
import type { ObservedOp, ObservedSource } from "../../../shared/types";

export const SOURCES: readonly ObservedSource[] = ["mcp", "scenario", "langfuse", "overseer_correction", "workflow", "inbox"];

const STRING_FIELDS = ["input_summary", "output_summary", "error", "staffer_id", "sig_hash", "event_kind", "role", "city", "state"] as const;
const BOOL_FIELDS = ["rescue_attempted", "rescue_succeeded"] as const;

export type Normalized = { ok: true; op: ObservedOp; ts_ms: number } | { ok: false; message: string };

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Validates one event and fills the defaults. `where` prefixes field names in messages (`events[3].`). */
export function normalizeOp(raw: unknown, now: Date, where = ""): Normalized {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return { ok: false, message: `${where || "event"}: expected a JSON object, got ${show(raw)}` };
  const r = raw as Record<string, unknown>;
  const f = (name: string) => `${where}${name}`;
  if (typeof r.endpoint !== "string" || r.endpoint.trim() === "") {
    return { ok: false, message: `${f("endpoint")} is required and must be a non-empty string, got ${show(r.endpoint)}` };
  }
  let timestamp = now.toISOString();
  let ts_ms = now.getTime();
  if (r.timestamp !== undefined && r.timestamp !== null && r.timestamp !== "") {
    const t = typeof r.timestamp === "string" ? Date.parse(r.timestamp) : NaN;
    if (!Number.isFinite(t)) return { ok: false, message: `${f("timestamp")}: expected an RFC 3339 time, got ${show(r.timestamp)}` };
    timestamp = r.timestamp as string;
    ts_ms = t;
  }
  let source: ObservedSource = "mcp";
  if (r.source !== undefined && r.source !== null && r.source !== "") {
    if (!SOURCES.includes(r.source as ObservedSource)) {
      return { ok: false, message: `${f("source")}: expected one of ${SOURCES.join(", ")}, got ${show(r.source)}` };
    }
    source = r.source as ObservedSource;
  }
  if (r.success !== undefined && typeof r.success !== "boolean") return { ok: false, message: `${f("success")}: expected true or false, got ${show(r.success)}` };
  if (r.duration_ms !== undefined && (typeof r.duration_ms !== "number" || !Number.isFinite(r.duration_ms) || r.duration_ms < 0)) {
    return { ok: false, message: `${f("duration_ms")}: expected a non-negative number, got ${show(r.duration_ms)}` };
  }
  if (r.count !== undefined && r.count !== null && (typeof r.count !== "number" || !Number.isFinite(r.count))) {
    return { ok: false, message: `${f("count")}: expected a number, got ${show(r.count)}` };
  }
  const op: ObservedOp = {
    timestamp,
    endpoint: r.endpoint,
    input_summary: "",
    success: r.success === true,
    duration_ms: (r.duration_ms as number | undefined) ?? 0,
    output_summary: "",
    source,
  };
  for (const k of STRING_FIELDS) {
    const v = r[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== "string") return { ok: false, message: `${f(k)}: expected a string, got ${show(v)}` };
    op[k] = v;
  }
  for (const k of BOOL_FIELDS) {
    const v = r[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== "boolean") return { ok: false, message: `${f(k)}: expected true or false, got ${show(v)}` };
    op[k] = v;
  }
  if (typeof r.count === "number") op.count = r.count;
  return { ok: true, op, ts_ms };
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
