// The Observer Durable Object: the durable op log (SQLite) and the in-memory ring.
// Every op is written to SQLite first and enters the ring only after the write
// (persist, then apply); the ring is rebuilt from the log when the object starts.
// Everything the cycles derive (clusters, patterns/playbooks, recommendations,
// escalations, reviews) lives here too; each cycle step is one transaction, so a
// cycle that stops half-way leaves consistent state for the next one.
import { DurableObject } from "cloudflare:workers";
import { MIGRATIONS } from "../../../migrations/observer/index";
import { LakehouseError } from "../../../shared/errors";
import { utf8Length } from "../../../shared/json-limits";
import { lakehouseConfig } from "../../../shared/lakehouse-config";
import { applyMigrations } from "../../../shared/migrations";
import {
  type ObserverEventAnswer,
  type ObserverEventTarget,
  observerShardStub,
} from "../../../shared/observer-shards";
import type { ObservedOp } from "../../../shared/types";
import { type ClusterView, clusterOf, endpointPattern } from "./analysis";
import { capOp, eventFromBody, opBytes, Ring, type RingDigest, type RingStats } from "./ops";

export interface OpsQuery {
  source?: string;
  success?: boolean;
  since_ms?: number;
  until_ms?: number;
  after_id?: number;
  limit: number;
  /** Stop the page once its ops pass this many bytes of JSON (at least one op is returned); a merge across shards sets it. */
  max_bytes?: number;
}

export interface Playbook {
  pattern: string;
  successes: number;
  failures: number;
  success_rate: number;
  first_seen: string;
  last_seen: string;
  samples: string[];
  promoted_at: string;
  matrix_playbook_id: string | null;
  matrix_recorded_at: string | null;
  matrix_error: string | null;
}

export interface Escalation {
  id: number;
  cluster_id: string;
  created_at: string;
  cluster_count: number;
  status: "pending" | "done";
  briefing: unknown;
  answer: string | null;
  source: string | null;
  model: string | null;
  llm_error: string | null;
  completed_at: string | null;
}

type ClusterRow = {
  id: string;
  sig_hash: string | null;
  endpoint: string;
  normalized_error: string;
  count: number;
  first_seen: string;
  last_seen: string;
  endpoints: string;
  sample_errors: string;
  recommended_count: number;
};

function clusterView(r: ClusterRow): ClusterView & { recommended_count: number } {
  return { ...r, endpoints: JSON.parse(r.endpoints), sample_errors: JSON.parse(r.sample_errors) };
}

/** What one shard's ops add to the clusters and patterns (folded in the shard, merged into shard 0). */
export interface FoldDelta {
  /** The last op id folded (the shard's next cursor); the cursor it started from when nothing was folded. */
  upto: number;
  processed: number;
  failures: number;
  successes: number;
  more: boolean;
  patterns: {
    pattern: string;
    successes: number;
    failures: number;
    first_seen: string;
    last_seen: string;
    samples: string[];
  }[];
  clusters: (Omit<ClusterRow, "endpoints" | "sample_errors" | "recommended_count"> & {
    endpoints: string[];
    sample_errors: string[];
  })[];
}

/**
 * Op ids: `tick * MAX_SHARDS + shard`, tick = max(last tick + 1, now_ms * TICKS_PER_MS) — a
 * hybrid logical clock per shard, so ids are unique across shards, increase within each, and
 * order ops across shards by arrival time (to within the clocks). Ids of rows written before
 * (a plain autoincrement) are small and sort first. Safe integers until the year 2248.
 */
export const MAX_SHARDS = 32;
const TICKS_PER_MS = 32;

const nowIso = () => new Date().toISOString();
/** `a` if it is strictly earlier than `b` (unparseable times never win). */
const earlier = (a: string, b: string) => (Date.parse(a) < Date.parse(b) ? a : b);
const later = (a: string, b: string) => (Date.parse(a) > Date.parse(b) ? a : b);

/**
 * Folds ops (in id order) into per-pattern and per-cluster deltas: pattern success/failure
 * counts, first/last seen and the last 5 distinct success inputs; cluster counts, first/last
 * seen, up to 20 endpoints and 5 sample errors. Merging deltas in order gives what folding
 * the ops one by one into the tables gave.
 */
export function foldRows(
  rows: Iterable<{ id: number; op: ObservedOp }>,
  from: number,
  limit: number,
  maxKeys: number,
): FoldDelta {
  const patterns = new Map<string, FoldDelta["patterns"][number]>();
  const clusters = new Map<string, FoldDelta["clusters"][number]>();
  const d: FoldDelta = {
    upto: from,
    processed: 0,
    failures: 0,
    successes: 0,
    more: false,
    patterns: [],
    clusters: [],
  };
  let stoppedEarly = false;
  for (const { id, op } of rows) {
    d.processed++;
    d.upto = id;
    const pattern = endpointPattern(op.endpoint);
    let p = patterns.get(pattern);
    if (!p) {
      p = {
        pattern,
        successes: 0,
        failures: 0,
        first_seen: op.timestamp,
        last_seen: op.timestamp,
        samples: [],
      };
      patterns.set(pattern, p);
    }
    p.last_seen = op.timestamp;
    if (op.success) {
      d.successes++;
      p.successes++;
      if (op.input_summary && !p.samples.includes(op.input_summary)) {
        p.samples.push(op.input_summary.slice(0, 300));
        if (p.samples.length > 5) p.samples.shift();
      }
    } else {
      d.failures++;
      p.failures++;
      const c = clusterOf(op);
      const errorText = (op.error || op.output_summary || "").slice(0, 500);
      const k = clusters.get(c.id);
      if (!k) {
        clusters.set(c.id, {
          id: c.id,
          sig_hash: c.sig_hash,
          endpoint: c.endpoint,
          normalized_error: c.normalized_error,
          count: 1,
          first_seen: op.timestamp,
          last_seen: op.timestamp,
          endpoints: [op.endpoint],
          sample_errors: errorText ? [errorText] : [],
        });
      } else {
        k.count++;
        if (!k.endpoints.includes(op.endpoint) && k.endpoints.length < 20)
          k.endpoints.push(op.endpoint);
        if (errorText && !k.sample_errors.includes(errorText) && k.sample_errors.length < 5)
          k.sample_errors.push(errorText);
        k.first_seen = earlier(op.timestamp, k.first_seen);
        k.last_seen = later(op.timestamp, k.last_seen);
      }
    }
    if (patterns.size + clusters.size >= maxKeys) {
      stoppedEarly = true;
      break;
    }
  }
  d.more = stoppedEarly || d.processed === limit;
  d.patterns = [...patterns.values()];
  d.clusters = [...clusters.values()];
  return d;
}
/** Stored op text read into memory at once by the log readers (/ops, the analysis). */
const READ_SLICE_BYTES = 8 * 1024 * 1024;

export class Observer extends DurableObject<Env> implements ObserverEventTarget {
  private ring: Ring;
  private insertsSincePrune = 0;
  private lastTick: number;
  private readonly summaryBytes: number;
  /** Calls waiting for the next group commit (see record), and whether a commit is in flight. */
  private queue: {
    ops: { op: ObservedOp; ts_ms: number }[];
    shard: number;
    resolve: (r: { ids: number[]; ring_size: number }) => void;
    reject: (e: unknown) => void;
  }[] = [];
  private committing = false;
  /** Shards that shard 0 is known to have recorded in its span (see record); learnt once per object start. */
  private spanKnown = 1;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Synchronous (SQLite calls are), so it completes before the object takes any request:
    // the same guarantee as blockConcurrencyWhile, also when a test builds a second instance.
    applyMigrations(ctx.storage, MIGRATIONS);
    const cfg = lakehouseConfig(env).observerd;
    this.summaryBytes = cfg.max_summary_bytes;
    this.ring = new Ring(cfg.ring_cap, cfg.recent_scenario_cap, cfg.ring_max_bytes);
    // Rebuild the ring newest-first, one row at a time, only until either bound is reached,
    // capping rows an older version stored uncapped as they are read: no stored history
    // (however large its rows) can make the object hold more than the ring's bounds on start.
    const newest: { op: ObservedOp; bytes: number; id: number }[] = [];
    let bytes = 0;
    const cursor = ctx.storage.sql.exec<{ id: number; op: string }>(
      "SELECT id, op FROM ops ORDER BY id DESC LIMIT ?",
      cfg.ring_cap,
    );
    for (const r of cursor) {
      const op = this.readOp(r.op);
      if (!op) continue;
      const b = opBytes(op);
      if (newest.length > 0 && bytes + b > cfg.ring_max_bytes) break;
      newest.push({ op, bytes: b, id: r.id });
      bytes += b;
    }
    for (let i = newest.length - 1; i >= 0; i--)
      this.ring.push(newest[i]!.op, newest[i]!.bytes, newest[i]!.id);
    const maxId =
      ctx.storage.sql.exec<{ m: number | null }>("SELECT max(id) AS m FROM ops").one().m ?? 0;
    this.lastTick = Math.floor(maxId / MAX_SHARDS);
  }

  private nextId(shard: number): number {
    this.lastTick = Math.max(this.lastTick + 1, Date.now() * TICKS_PER_MS);
    return this.lastTick * MAX_SHARDS + shard;
  }

  /** A stored op within the field caps (rows of older versions are capped as read); undefined if unreadable. */
  private readOp(text: string): ObservedOp | undefined {
    try {
      const v = JSON.parse(text) as ObservedOp;
      if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
      return capOp(v, this.summaryBytes);
    } catch {
      return undefined;
    }
  }

  /**
   * Rows after `afterId` (in id order, matching `where`), read in slices of at most ~8 MiB of
   * stored text, so an old log of huge rows is never loaded at once; each op capped.
   */
  private *readRows(
    where: string,
    args: unknown[],
    limit: number,
  ): Generator<{ id: number; op: ObservedOp }> {
    const heads = this.sql
      .exec<{ id: number; n: number }>(
        `SELECT id, length(op) AS n FROM ops ${where} ORDER BY id LIMIT ?`,
        ...args,
        limit,
      )
      .toArray();
    for (let i = 0; i < heads.length; ) {
      let j = i;
      let budget = 0;
      while (j < heads.length && (j === i || budget + heads[j]!.n <= READ_SLICE_BYTES))
        budget += heads[j++]!.n;
      const rows = this.sql
        .exec<{ id: number; op: string }>(
          `SELECT id, op FROM ops ${where ? `${where} AND` : "WHERE"} id >= ? AND id <= ? ORDER BY id`,
          ...args,
          heads[i]!.id,
          heads[j - 1]!.id,
        )
        .toArray();
      const wanted = new Set(heads.slice(i, j).map((h) => h.id));
      for (const r of rows) {
        if (!wanted.has(r.id)) continue;
        const op =
          this.readOp(r.op) ??
          ({
            timestamp: "",
            endpoint: "(unreadable op)",
            input_summary: "",
            success: false,
            duration_ms: 0,
            output_summary: "",
          } as ObservedOp);
        yield { id: r.id, op };
      }
      i = j;
    }
  }

  private get sql() {
    return this.ctx.storage.sql;
  }

  /** Writes the ops, each within the field caps; returns their ids and the capped ops with their sizes (for the ring). */
  private insertOps(
    ops: { op: ObservedOp; ts_ms: number }[],
    shard: number,
  ): { ids: number[]; capped: { op: ObservedOp; bytes: number }[] } {
    const ids: number[] = [];
    const capped: { op: ObservedOp; bytes: number }[] = [];
    for (const { op: raw, ts_ms } of ops) {
      const op = capOp(raw, this.summaryBytes);
      const text = JSON.stringify(op);
      const id = this.nextId(shard);
      this.sql.exec(
        "INSERT INTO ops (id, ts_ms, source, success, endpoint, op) VALUES (?, ?, ?, ?, ?, ?)",
        id,
        ts_ms,
        op.source ?? "mcp",
        op.success ? 1 : 0,
        op.endpoint,
        text,
      );
      ids.push(id);
      capped.push({ op, bytes: utf8Length(text) });
    }
    return { ids, capped };
  }

  /**
   * Persist, then apply, group-committed. A call that finds no commit in flight is written at
   * once (one transaction per call, so a batch is whole or absent), pushed into the ring, and
   * answered when `storage.sync()` says the write is durable. Calls that arrive while a commit is
   * in flight queue up and are written together, in one transaction, as soon as it completes:
   * one durable commit then serves all of them, with no timer and no wait when the object is
   * idle. (An earlier version grouped calls behind a setTimeout(0): every event paid a turn of
   * the event loop even alone.) The output gate would hold the answers until the commit anyway;
   * awaiting sync() is what lets the next group form meanwhile.
   */
  record(
    ops: { op: ObservedOp; ts_ms: number }[],
    shard = 0,
  ): Promise<{ ids: number[]; ring_size: number }> {
    if (shard >= this.spanKnown) return this.recordSpan(shard).then(() => this.record(ops, shard));
    return new Promise((resolve, reject) => {
      this.queue.push({ ops, shard, resolve, reject });
      if (!this.committing) void this.commitQueued();
    });
  }

  /**
   * The span, kept by the writer's shard itself: before shard i > 0 writes for the first time
   * since it started, shard 0 durably records that max([observerd].shards, i + 1) shards may
   * hold ops (readers, the cycle and retention fan out over that many). Every writer — the
   * observer Worker's routes and the gateway's direct POST /v1/observer/event — goes through
   * here, and only a write that passed validation gets this far.
   */
  private async recordSpan(shard: number): Promise<void> {
    const n = Math.max(lakehouseConfig(this.env).observerd.shards, shard + 1);
    this.spanKnown = Math.max(
      this.spanKnown,
      await observerShardStub(this.env.OBSERVER, 0).ensureSpan(n),
    );
  }

  /**
   * POST /observer/event in one call (shared/observer-shards.ts): the gateway sends the body
   * here, to the request's shard, instead of through the observer Worker (issue #15: one Worker
   * hop less per event); the observer Worker's own /event route calls it too. Every check and
   * every answer is the route's: eventFromBody (body cap, JSON, ObservedOpInput), then record.
   */
  async event(
    body: ArrayBuffer | Uint8Array | string,
    declaredLength: number | null,
    shard: number,
  ): Promise<ObserverEventAnswer> {
    let e: { op: ObservedOp; ts_ms: number };
    try {
      e = eventFromBody(
        body,
        declaredLength,
        lakehouseConfig(this.env).observerd.max_event_bytes,
        new Date(),
      );
    } catch (err) {
      if (err instanceof LakehouseError) return { ok: false, code: err.code, message: err.message };
      throw err;
    }
    const r = await this.record([e], shard);
    return { ok: true, ring_size: r.ring_size, id: r.ids[0]! };
  }

  private async commitQueued(): Promise<void> {
    this.committing = true;
    try {
      while (this.queue.length > 0) {
        const group = this.queue;
        this.queue = [];
        let written: { ids: number[]; capped: { op: ObservedOp; bytes: number }[] }[];
        try {
          written = this.ctx.storage.transactionSync(() =>
            group.map((g) => this.insertOps(g.ops, g.shard)),
          );
        } catch (err) {
          for (const g of group) g.reject(err);
          continue;
        }
        for (const w of written)
          for (const [i, { op, bytes }] of w.capped.entries()) this.ring.push(op, bytes, w.ids[i]);
        const ring_size = this.ring.length;
        this.insertsSincePrune += group.reduce((n, g) => n + g.ops.length, 0);
        if (this.insertsSincePrune >= 10_000) this.prune(Date.now());
        try {
          await this.ctx.storage.sync();
        } catch (err) {
          for (const g of group) g.reject(err);
          continue;
        }
        for (const [i, g] of group.entries()) g.resolve({ ids: written[i]!.ids, ring_size });
      }
    } finally {
      this.committing = false;
    }
  }

  stats(): RingStats {
    return this.ring.stats();
  }

  /** The ring in columns (shards.ts merges the shards' rings into the one the stats are over). */
  ringDigest(): RingDigest {
    return this.ring.digest();
  }

  // ---- shards (kept in shard 0) ----

  /** How many shards have ever held ops (at least 1): readers fan out over this many. */
  shardSpan(): number {
    return Math.max(1, Number(this.getState("shard_span") ?? "1"));
  }

  /** Records (durably, before any write to a new shard) that `n` shards may hold ops; returns the span. */
  ensureSpan(n: number): number {
    const span = Math.max(this.shardSpan(), n);
    if (span !== Number(this.getState("shard_span") ?? "0"))
      this.setState("shard_span", String(span));
    return span;
  }

  ringSize(): number {
    return this.ring.length;
  }

  ringBytes(): { ring_size: number; ring_bytes: number; ring_max_bytes: number } {
    return {
      ring_size: this.ring.length,
      ring_bytes: this.ring.bytes,
      ring_max_bytes: this.ring.maxBytes,
    };
  }

  queryOps(q: OpsQuery): { ops: (ObservedOp & { id: number })[]; next_after_id: number | null } {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.source !== undefined) where.push("source = ?"), args.push(q.source);
    if (q.success !== undefined) where.push("success = ?"), args.push(q.success ? 1 : 0);
    if (q.since_ms !== undefined) where.push("ts_ms >= ?"), args.push(q.since_ms);
    if (q.until_ms !== undefined) where.push("ts_ms < ?"), args.push(q.until_ms);
    if (q.after_id !== undefined) where.push("id > ?"), args.push(q.after_id);
    const rows: { id: number; op: ObservedOp }[] = [];
    let bytes = 0;
    let cut = false;
    for (const r of this.readRows(
      where.length ? `WHERE ${where.join(" AND ")}` : "",
      args,
      q.limit + 1,
    )) {
      const b = q.max_bytes === undefined ? 0 : opBytes(r.op);
      if (
        q.max_bytes !== undefined &&
        rows.length > 0 &&
        rows.length < q.limit &&
        bytes + b > q.max_bytes
      ) {
        cut = true;
        break;
      }
      bytes += b;
      rows.push(r);
    }
    const more = cut || rows.length > q.limit;
    const page = rows.slice(0, q.limit).map((r) => ({ id: r.id, ...r.op }));
    return { ops: page, next_after_id: more ? page[page.length - 1]!.id : null };
  }

  /** One page of the log and the log's size, in one call (what GET /ops asks each shard). */
  queryPage(q: OpsQuery): {
    ops: (ObservedOp & { id: number })[];
    next_after_id: number | null;
    log_size: number;
  } {
    return { ...this.queryOps(q), log_size: this.logCount() };
  }

  logCount(): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM ops").one().n;
  }

  /** Log retention: ops older than retention_days, and beyond the newest retention_max_ops. Never touches the ring. */
  prune(nowMs: number): number {
    this.insertsSincePrune = 0;
    const cfg = lakehouseConfig(this.env).observerd;
    const before = this.ctx.storage.sql.exec(
      "DELETE FROM ops WHERE ts_ms < ?",
      nowMs - cfg.retention_days * 86_400_000,
    ).rowsWritten;
    // Ids are not dense (see MAX_SHARDS): the newest retention_max_ops by position, not by arithmetic.
    const byCount = this.sql.exec(
      "DELETE FROM ops WHERE id <= (SELECT id FROM ops ORDER BY id DESC LIMIT 1 OFFSET ?)",
      cfg.retention_max_ops,
    ).rowsWritten;
    return before + byCount;
  }

  // ---- state and the cycle lease ----

  private getState(key: string): string | undefined {
    return this.sql
      .exec<{ value: string }>("SELECT value FROM state WHERE key = ?", key)
      .toArray()[0]?.value;
  }

  private setState(key: string, value: string): void {
    this.sql.exec(
      "INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      key,
      value,
    );
  }

  /** Takes the cycle lease, or says who holds it. Two cycles at once: the second is refused. */
  beginCycle(
    trigger: string,
    nowMs: number,
    leaseMs: number,
  ): { cycle_id: string } | { busy: { cycle_id: string; expires_at: string } } {
    const lease = this.getState("cycle_lease");
    if (lease) {
      const held = JSON.parse(lease) as { cycle_id: string; expires_ms: number };
      if (held.expires_ms > nowMs)
        return {
          busy: { cycle_id: held.cycle_id, expires_at: new Date(held.expires_ms).toISOString() },
        };
    }
    const cycle_id = crypto.randomUUID();
    this.ctx.storage.transactionSync(() => {
      this.setState("cycle_lease", JSON.stringify({ cycle_id, expires_ms: nowMs + leaseMs }));
      this.sql.exec(
        "INSERT INTO cycles (id, trigger, started_at) VALUES (?, ?, ?)",
        cycle_id,
        trigger,
        new Date(nowMs).toISOString(),
      );
    });
    return { cycle_id };
  }

  endCycle(cycle_id: string, summary: unknown): void {
    this.ctx.storage.transactionSync(() => {
      const lease = this.getState("cycle_lease");
      if (lease && (JSON.parse(lease) as { cycle_id: string }).cycle_id === cycle_id)
        this.sql.exec("DELETE FROM state WHERE key = 'cycle_lease'");
      this.sql.exec(
        "UPDATE cycles SET finished_at = ?, summary = ? WHERE id = ?",
        nowIso(),
        JSON.stringify(summary),
        cycle_id,
      );
    });
  }

  // ---- step 1: overseer corrections ----

  correctionsOffset(): number {
    return Number(this.getState("corrections_offset") ?? "0");
  }

  /**
   * Records correction ops and moves the offset, atomically, only if the offset is still
   * `from` (compare-and-set): a second cycle that read the same bytes applies nothing.
   */
  applyCorrections(
    from: number,
    to: number,
    ops: { op: ObservedOp; ts_ms: number }[],
  ): { applied: number } | { stale: true; offset: number } {
    const current = this.correctionsOffset();
    if (current !== from) return { stale: true, offset: current };
    const w = this.ctx.storage.transactionSync(() => {
      const w = this.insertOps(ops, 0);
      this.setState("corrections_offset", String(to));
      return w;
    });
    for (const [i, { op, bytes }] of w.capped.entries()) this.ring.push(op, bytes, w.ids[i]);
    return { applied: ops.length };
  }

  // ---- step 2 and 3: analysis of new ops (clusters, patterns) ----

  /** Folds up to `limit` ops after the analysis cursor into clusters and patterns, in one transaction (shard 0's own log). */
  analyse(
    limit: number,
    playbookMinSuccesses: number,
  ): {
    processed: number;
    failures: number;
    successes: number;
    new_playbooks: string[];
    more: boolean;
  } {
    return this.ctx.storage.transactionSync(() => {
      const cursor = Number(this.getState("analysed_upto") ?? "0");
      // One slice of stored text in memory at a time (readRows), never the whole batch.
      const d = foldRows(
        this.readRows("WHERE id > ?", [cursor], limit),
        cursor,
        limit,
        Number.POSITIVE_INFINITY,
      );
      const new_playbooks = this.mergeDelta(d, playbookMinSuccesses);
      if (d.processed > 0) this.setState("analysed_upto", String(d.upto));
      return {
        processed: d.processed,
        failures: d.failures,
        successes: d.successes,
        new_playbooks,
        more: d.more,
      };
    });
  }

  /**
   * Another shard's side of the analysis: folds up to `limit` of its ops after `afterId` into a
   * delta, changing nothing here; stops early once the delta holds `maxKeys` clusters and
   * patterns, so it stays far below the RPC size limit. Shard 0 merges it (mergeFold).
   */
  foldOps(afterId: number, limit: number, maxKeys: number): FoldDelta {
    return foldRows(this.readRows("WHERE id > ?", [afterId], limit), afterId, limit, maxKeys);
  }

  /** Shard 0: where the analysis of `shard`'s log stands (its cursor lives here, with the clusters). */
  analysisCursor(shard: number): number {
    return Number(this.getState(shard === 0 ? "analysed_upto" : `analysed_upto:${shard}`) ?? "0");
  }

  /**
   * Shard 0: merges a shard's delta into the clusters and patterns and moves that shard's cursor,
   * in one transaction, only if the cursor is still `from` (compare-and-set: a delta is never
   * merged twice, even by two cycles past an expired lease).
   */
  mergeFold(
    shard: number,
    from: number,
    d: FoldDelta,
    playbookMinSuccesses: number,
  ): { new_playbooks: string[] } | { stale: true } {
    return this.ctx.storage.transactionSync(() => {
      if (this.analysisCursor(shard) !== from) return { stale: true as const };
      const new_playbooks = this.mergeDelta(d, playbookMinSuccesses);
      if (d.processed > 0)
        this.setState(shard === 0 ? "analysed_upto" : `analysed_upto:${shard}`, String(d.upto));
      return { new_playbooks };
    });
  }

  /** Adds a delta to the clusters and patterns tables (inside the caller's transaction); returns the patterns it promoted to playbooks. */
  private mergeDelta(d: FoldDelta, playbookMinSuccesses: number): string[] {
    const newPlaybooks: string[] = [];
    for (const q of d.patterns) {
      const p = this.sql
        .exec<{ successes: number; samples: string; promoted_at: string | null }>(
          "SELECT successes, samples, promoted_at FROM patterns WHERE pattern = ?",
          q.pattern,
        )
        .toArray()[0];
      const samples = p ? (JSON.parse(p.samples) as string[]) : [];
      for (const x of q.samples) if (!samples.includes(x)) samples.push(x);
      const promote =
        !p?.promoted_at &&
        q.successes > 0 &&
        (p?.successes ?? 0) + q.successes >= playbookMinSuccesses;
      this.sql.exec(
        `INSERT INTO patterns (pattern, successes, failures, first_seen, last_seen, samples, promoted_at) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (pattern) DO UPDATE SET successes = successes + excluded.successes, failures = failures + excluded.failures,
           last_seen = excluded.last_seen, samples = excluded.samples, promoted_at = coalesce(patterns.promoted_at, excluded.promoted_at)`,
        q.pattern,
        q.successes,
        q.failures,
        q.first_seen,
        q.last_seen,
        JSON.stringify(samples.slice(-5)),
        promote ? nowIso() : null,
      );
      if (promote) newPlaybooks.push(q.pattern);
    }
    for (const c of d.clusters) {
      const existing = this.sql
        .exec<ClusterRow>("SELECT * FROM clusters WHERE id = ?", c.id)
        .toArray()[0];
      if (!existing) {
        this.sql.exec(
          `INSERT INTO clusters (id, sig_hash, endpoint, normalized_error, count, first_seen, last_seen, endpoints, sample_errors)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          c.id,
          c.sig_hash,
          c.endpoint,
          c.normalized_error,
          c.count,
          c.first_seen,
          c.last_seen,
          JSON.stringify(c.endpoints),
          JSON.stringify(c.sample_errors),
        );
        continue;
      }
      const endpoints = JSON.parse(existing.endpoints) as string[];
      for (const e of c.endpoints)
        if (!endpoints.includes(e) && endpoints.length < 20) endpoints.push(e);
      const samples = JSON.parse(existing.sample_errors) as string[];
      for (const e of c.sample_errors)
        if (!samples.includes(e) && samples.length < 5) samples.push(e);
      this.sql.exec(
        "UPDATE clusters SET count = count + ?, first_seen = ?, last_seen = ?, endpoints = ?, sample_errors = ? WHERE id = ?",
        c.count,
        earlier(c.first_seen, existing.first_seen),
        later(c.last_seen, existing.last_seen),
        JSON.stringify(endpoints),
        JSON.stringify(samples),
        c.id,
      );
    }
    return newPlaybooks;
  }

  /** Clusters with failures since their last recommendation, most failures first. */
  clustersNeedingRecommendation(limit: number): ClusterView[] {
    return this.sql
      .exec<ClusterRow>(
        "SELECT * FROM clusters WHERE count > recommended_count ORDER BY count DESC, id LIMIT ?",
        limit,
      )
      .toArray()
      .map(clusterView);
  }

  addRecommendation(
    clusterId: string,
    clusterCount: number,
    text: string,
    source: string,
    model: string | null,
    llmError: string | null,
  ): void {
    this.ctx.storage.transactionSync(() => {
      this.sql.exec(
        "INSERT INTO recommendations (cluster_id, created_at, cluster_count, text, source, model, llm_error) VALUES (?, ?, ?, ?, ?, ?, ?)",
        clusterId,
        nowIso(),
        clusterCount,
        text,
        source,
        model,
        llmError,
      );
      this.sql.exec(
        "UPDATE clusters SET recommended_count = max(recommended_count, ?) WHERE id = ?",
        clusterCount,
        clusterId,
      );
    });
  }

  /** Playbooks not yet recorded into the matrix playbook memory (retried every cycle until they are). */
  playbooksToRecord(limit: number): Playbook[] {
    return this.listPlaybooks(limit, true);
  }

  markPlaybookRecorded(pattern: string, result: { playbook_id: string } | { error: string }): void {
    if ("playbook_id" in result) {
      this.sql.exec(
        "UPDATE patterns SET matrix_playbook_id = ?, matrix_recorded_at = ?, matrix_error = NULL WHERE pattern = ?",
        result.playbook_id,
        nowIso(),
        pattern,
      );
    } else {
      this.sql.exec(
        "UPDATE patterns SET matrix_error = ? WHERE pattern = ?",
        result.error,
        pattern,
      );
    }
  }

  listPlaybooks(limit: number, unrecordedOnly = false): Playbook[] {
    return this.sql
      .exec<Omit<Playbook, "samples" | "success_rate"> & { samples: string }>(
        `SELECT pattern, successes, failures, first_seen, last_seen, samples, promoted_at, matrix_playbook_id, matrix_recorded_at, matrix_error
         FROM patterns WHERE promoted_at IS NOT NULL ${unrecordedOnly ? "AND matrix_playbook_id IS NULL" : ""} ORDER BY promoted_at, pattern LIMIT ?`,
        limit,
      )
      .toArray()
      .map((r) => ({
        ...r,
        samples: JSON.parse(r.samples) as string[],
        success_rate: r.successes / Math.max(1, r.successes + r.failures),
      }));
  }

  // ---- step 4: escalations ----

  /**
   * Creates one pending escalation for each cluster at or over the threshold that has
   * none (UNIQUE cluster_id: never a second), and returns every pending escalation with
   * its cluster — including ones a failed cycle left pending.
   */
  claimEscalations(
    threshold: number,
    limit: number,
  ): { escalation_id: number; cluster: ClusterView }[] {
    this.sql.exec(
      `INSERT OR IGNORE INTO escalations (cluster_id, created_at, cluster_count, status)
       SELECT id, ?, count, 'pending' FROM clusters WHERE count >= ?`,
      nowIso(),
      threshold,
    );
    return this.sql
      .exec<ClusterRow & { escalation_id: number }>(
        `SELECT e.id AS escalation_id, c.* FROM escalations e JOIN clusters c ON c.id = e.cluster_id
         WHERE e.status = 'pending' ORDER BY e.id LIMIT ?`,
        limit,
      )
      .toArray()
      .map((r) => ({ escalation_id: r.escalation_id, cluster: clusterView(r) }));
  }

  completeEscalation(
    id: number,
    briefing: unknown,
    answer: string,
    source: string,
    model: string | null,
    llmError: string | null,
  ): boolean {
    return (
      this.sql.exec(
        `UPDATE escalations SET status = 'done', briefing = ?, answer = ?, source = ?, model = ?, llm_error = ?, completed_at = ?
       WHERE id = ? AND status = 'pending'`,
        JSON.stringify(briefing),
        answer,
        source,
        model,
        llmError,
        nowIso(),
        id,
      ).rowsWritten > 0
    );
  }

  // ---- reviews ----

  addReview(
    input: unknown,
    v: {
      verdict: string;
      confidence: number;
      notes: string;
      source: string;
      model: string | null;
      llm_error: string | null;
    },
  ): number {
    return this.sql
      .exec<{ id: number }>(
        "INSERT INTO reviews (created_at, input, verdict, confidence, notes, source, model, llm_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        nowIso(),
        JSON.stringify(input),
        v.verdict,
        v.confidence,
        v.notes,
        v.source,
        v.model,
        v.llm_error,
      )
      .one().id;
  }

  // ---- listings ----

  list(
    kind: "clusters" | "escalations" | "reviews" | "recommendations" | "cycles",
    limit: number,
  ): unknown[] {
    switch (kind) {
      case "clusters":
        return this.sql
          .exec<ClusterRow>(
            "SELECT * FROM clusters ORDER BY count DESC, last_seen DESC LIMIT ?",
            limit,
          )
          .toArray()
          .map((r) => {
            const { recommended_count: _r, ...v } = clusterView(r);
            const esc = this.sql
              .exec<{ id: number }>("SELECT id FROM escalations WHERE cluster_id = ?", r.id)
              .toArray()[0];
            return { ...v, escalated: esc !== undefined };
          });
      case "escalations":
        return this.sql
          .exec<Omit<Escalation, "briefing"> & { briefing: string | null }>(
            "SELECT * FROM escalations ORDER BY id DESC LIMIT ?",
            limit,
          )
          .toArray()
          .map((r) => ({ ...r, briefing: r.briefing === null ? null : JSON.parse(r.briefing) }));
      case "reviews":
        return this.sql
          .exec<{ input: string }>("SELECT * FROM reviews ORDER BY id DESC LIMIT ?", limit)
          .toArray()
          .map((r) => ({ ...r, input: JSON.parse(r.input) }));
      case "recommendations":
        return this.sql
          .exec("SELECT * FROM recommendations ORDER BY id DESC LIMIT ?", limit)
          .toArray();
      case "cycles":
        return this.sql
          .exec<{ summary: string | null }>(
            "SELECT * FROM cycles ORDER BY started_at DESC LIMIT ?",
            limit,
          )
          .toArray()
          .map((r) => ({ ...r, summary: r.summary === null ? null : JSON.parse(r.summary) }));
    }
  }
}
