// The Observer Durable Object: the durable op log (SQLite) and the in-memory ring.
// Every op is written to SQLite first and enters the ring only after the write
// (persist, then apply); the ring is rebuilt from the log when the object starts.
// Everything the cycles derive (clusters, patterns/playbooks, recommendations,
// escalations, reviews) lives here too; each cycle step is one transaction, so a
// cycle that stops half-way leaves consistent state for the next one.
import { DurableObject } from "cloudflare:workers";
import { MIGRATIONS } from "../../../migrations/observer/index";
import { applyMigrations } from "../../../shared/migrations";
import { lakehouseConfig } from "../../../shared/lakehouse-config";
import type { ObservedOp } from "../../../shared/types";
import { clusterOf, endpointPattern, type ClusterView } from "./analysis";
import { utf8Length } from "../../../shared/json-limits";
import { capOp, opBytes, Ring, type RingStats } from "./ops";

export interface OpsQuery {
  source?: string;
  success?: boolean;
  since_ms?: number;
  until_ms?: number;
  after_id?: number;
  limit: number;
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
  id: string; sig_hash: string | null; endpoint: string; normalized_error: string; count: number;
  first_seen: string; last_seen: string; endpoints: string; sample_errors: string; recommended_count: number;
};

function clusterView(r: ClusterRow): ClusterView & { recommended_count: number } {
  return { ...r, endpoints: JSON.parse(r.endpoints), sample_errors: JSON.parse(r.sample_errors) };
}

const nowIso = () => new Date().toISOString();
/** Stored op text read into memory at once by the log readers (/ops, the analysis). */
const READ_SLICE_BYTES = 8 * 1024 * 1024;

export class Observer extends DurableObject<Env> {
  private ring: Ring;
  private insertsSincePrune = 0;
  private queue: { ops: { op: ObservedOp; ts_ms: number }[]; resolve: (r: { ids: number[]; ring_size: number }) => void; reject: (e: unknown) => void }[] = [];
  private flushScheduled = false;
  private readonly summaryBytes: number;

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
    const newest: { op: ObservedOp; bytes: number }[] = [];
    let bytes = 0;
    const cursor = ctx.storage.sql.exec<{ op: string }>("SELECT op FROM ops ORDER BY id DESC LIMIT ?", cfg.ring_cap);
    for (const r of cursor) {
      const op = this.readOp(r.op);
      if (!op) continue;
      const b = opBytes(op);
      if (newest.length > 0 && bytes + b > cfg.ring_max_bytes) break;
      newest.push({ op, bytes: b });
      bytes += b;
    }
    for (let i = newest.length - 1; i >= 0; i--) this.ring.push(newest[i]!.op, newest[i]!.bytes);
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
  private *readRows(where: string, args: unknown[], limit: number): Generator<{ id: number; op: ObservedOp }> {
    const heads = this.sql
      .exec<{ id: number; n: number }>(`SELECT id, length(op) AS n FROM ops ${where} ORDER BY id LIMIT ?`, ...args, limit)
      .toArray();
    for (let i = 0; i < heads.length; ) {
      let j = i;
      let budget = 0;
      while (j < heads.length && (j === i || budget + heads[j]!.n <= READ_SLICE_BYTES)) budget += heads[j++]!.n;
      const rows = this.sql
        .exec<{ id: number; op: string }>(
          `SELECT id, op FROM ops ${where ? `${where} AND` : "WHERE"} id >= ? AND id <= ? ORDER BY id`,
          ...args, heads[i]!.id, heads[j - 1]!.id,
        )
        .toArray();
      const wanted = new Set(heads.slice(i, j).map((h) => h.id));
      for (const r of rows) {
        if (!wanted.has(r.id)) continue;
        const op = this.readOp(r.op) ?? ({ timestamp: "", endpoint: "(unreadable op)", input_summary: "", success: false, duration_ms: 0, output_summary: "" } as ObservedOp);
        yield { id: r.id, op };
      }
      i = j;
    }
  }

  private get sql() {
    return this.ctx.storage.sql;
  }

  /** Writes the ops, each within the field caps; returns their ids and the capped ops with their sizes (for the ring). */
  private insertOps(ops: { op: ObservedOp; ts_ms: number }[]): { ids: number[]; capped: { op: ObservedOp; bytes: number }[] } {
    const ids: number[] = [];
    const capped: { op: ObservedOp; bytes: number }[] = [];
    for (const { op: raw, ts_ms } of ops) {
      const op = capOp(raw, this.summaryBytes);
      const text = JSON.stringify(op);
      const row = this.sql
        .exec<{ id: number }>(
          "INSERT INTO ops (ts_ms, source, success, endpoint, op) VALUES (?, ?, ?, ?, ?) RETURNING id",
          ts_ms, op.source ?? "mcp", op.success ? 1 : 0, op.endpoint, text,
        )
        .one();
      ids.push(row.id);
      capped.push({ op, bytes: utf8Length(text) });
    }
    return { ids, capped };
  }

  /**
   * Persist, then apply: the ops are in SQLite before they enter the ring. Calls that
   * arrive together are group-committed: each call queues its ops and waits; one flush
   * (after the current turn, so concurrent calls can join) writes every queued op in one
   * transaction, then pushes them into the ring and answers each caller with its ids.
   * The output gate holds every answer until that one commit is durable.
   */
  record(ops: { op: ObservedOp; ts_ms: number }[]): Promise<{ ids: number[]; ring_size: number }> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ops, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setTimeout(() => this.flush(), 0);
      }
    });
  }

  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    this.flushScheduled = false;
    let written: { ids: number[]; capped: { op: ObservedOp; bytes: number }[] }[];
    try {
      written = this.ctx.storage.transactionSync(() => batch.map((b) => this.insertOps(b.ops)));
    } catch (err) {
      for (const b of batch) b.reject(err);
      return;
    }
    for (const w of written) for (const { op, bytes } of w.capped) this.ring.push(op, bytes);
    const ring_size = this.ring.length;
    batch.forEach((b, i) => b.resolve({ ids: written[i]!.ids, ring_size }));
    this.insertsSincePrune += batch.reduce((n, b) => n + b.ops.length, 0);
    if (this.insertsSincePrune >= 10_000) this.prune(Date.now());
  }

  stats(): RingStats {
    return this.ring.stats();
  }

  ringSize(): number {
    return this.ring.length;
  }

  ringBytes(): { ring_size: number; ring_bytes: number; ring_max_bytes: number } {
    return { ring_size: this.ring.length, ring_bytes: this.ring.bytes, ring_max_bytes: this.ring.maxBytes };
  }

  queryOps(q: OpsQuery): { ops: (ObservedOp & { id: number })[]; next_after_id: number | null } {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.source !== undefined) where.push("source = ?"), args.push(q.source);
    if (q.success !== undefined) where.push("success = ?"), args.push(q.success ? 1 : 0);
    if (q.since_ms !== undefined) where.push("ts_ms >= ?"), args.push(q.since_ms);
    if (q.until_ms !== undefined) where.push("ts_ms < ?"), args.push(q.until_ms);
    if (q.after_id !== undefined) where.push("id > ?"), args.push(q.after_id);
    const rows = [...this.readRows(where.length ? `WHERE ${where.join(" AND ")}` : "", args, q.limit + 1)];
    const more = rows.length > q.limit;
    const page = rows.slice(0, q.limit).map((r) => ({ id: r.id, ...r.op }));
    return { ops: page, next_after_id: more ? page[page.length - 1]!.id : null };
  }

  logCount(): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM ops").one().n;
  }

  /** Log retention: ops older than retention_days, and beyond the newest retention_max_ops. Never touches the ring. */
  prune(nowMs: number): number {
    this.insertsSincePrune = 0;
    const cfg = lakehouseConfig(this.env).observerd;
    const before = this.ctx.storage.sql.exec("DELETE FROM ops WHERE ts_ms < ?", nowMs - cfg.retention_days * 86_400_000).rowsWritten;
    const maxId = this.sql.exec<{ m: number | null }>("SELECT max(id) AS m FROM ops").one().m ?? 0;
    const byCount = this.sql.exec("DELETE FROM ops WHERE id <= ?", maxId - cfg.retention_max_ops).rowsWritten;
    return before + byCount;
  }

  // ---- state and the cycle lease ----

  private getState(key: string): string | undefined {
    return this.sql.exec<{ value: string }>("SELECT value FROM state WHERE key = ?", key).toArray()[0]?.value;
  }

  private setState(key: string, value: string): void {
    this.sql.exec("INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value);
  }

  /** Takes the cycle lease, or says who holds it. Two cycles at once: the second is refused. */
  beginCycle(trigger: string, nowMs: number, leaseMs: number): { cycle_id: string } | { busy: { cycle_id: string; expires_at: string } } {
    const lease = this.getState("cycle_lease");
    if (lease) {
      const held = JSON.parse(lease) as { cycle_id: string; expires_ms: number };
      if (held.expires_ms > nowMs) return { busy: { cycle_id: held.cycle_id, expires_at: new Date(held.expires_ms).toISOString() } };
    }
    const cycle_id = crypto.randomUUID();
    this.ctx.storage.transactionSync(() => {
      this.setState("cycle_lease", JSON.stringify({ cycle_id, expires_ms: nowMs + leaseMs }));
      this.sql.exec("INSERT INTO cycles (id, trigger, started_at) VALUES (?, ?, ?)", cycle_id, trigger, new Date(nowMs).toISOString());
    });
    return { cycle_id };
  }

  endCycle(cycle_id: string, summary: unknown): void {
    this.ctx.storage.transactionSync(() => {
      const lease = this.getState("cycle_lease");
      if (lease && (JSON.parse(lease) as { cycle_id: string }).cycle_id === cycle_id) this.sql.exec("DELETE FROM state WHERE key = 'cycle_lease'");
      this.sql.exec("UPDATE cycles SET finished_at = ?, summary = ? WHERE id = ?", nowIso(), JSON.stringify(summary), cycle_id);
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
  applyCorrections(from: number, to: number, ops: { op: ObservedOp; ts_ms: number }[]): { applied: number } | { stale: true; offset: number } {
    const current = this.correctionsOffset();
    if (current !== from) return { stale: true, offset: current };
    const w = this.ctx.storage.transactionSync(() => {
      const w = this.insertOps(ops);
      this.setState("corrections_offset", String(to));
      return w;
    });
    for (const { op, bytes } of w.capped) this.ring.push(op, bytes);
    return { applied: ops.length };
  }

  // ---- step 2 and 3: analysis of new ops (clusters, patterns) ----

  /** Folds up to `limit` ops after the analysis cursor into clusters and patterns, in one transaction. */
  analyse(limit: number, playbookMinSuccesses: number): { processed: number; failures: number; successes: number; new_playbooks: string[]; more: boolean } {
    return this.ctx.storage.transactionSync(() => {
      const cursor = Number(this.getState("analysed_upto") ?? "0");
      let processed = 0;
      let lastId = cursor;
      let failures = 0;
      let successes = 0;
      const newPlaybooks: string[] = [];
      // One slice of stored text in memory at a time (readRows), never the whole batch.
      for (const r of this.readRows("WHERE id > ?", [cursor], limit)) {
        processed++;
        lastId = r.id;
        const op = r.op;
        const pattern = endpointPattern(op.endpoint);
        const p = this.sql
          .exec<{ successes: number; samples: string; promoted_at: string | null }>("SELECT successes, samples, promoted_at FROM patterns WHERE pattern = ?", pattern)
          .toArray()[0];
        if (op.success) {
          successes++;
          const samples = p ? (JSON.parse(p.samples) as string[]) : [];
          if (op.input_summary && !samples.includes(op.input_summary)) samples.push(op.input_summary.slice(0, 300));
          const next = (p?.successes ?? 0) + 1;
          const promote = !p?.promoted_at && next >= playbookMinSuccesses;
          this.sql.exec(
            `INSERT INTO patterns (pattern, successes, failures, first_seen, last_seen, samples, promoted_at) VALUES (?, 1, 0, ?, ?, ?, ?)
             ON CONFLICT (pattern) DO UPDATE SET successes = successes + 1, last_seen = excluded.last_seen, samples = excluded.samples,
               promoted_at = coalesce(patterns.promoted_at, excluded.promoted_at)`,
            pattern, op.timestamp, op.timestamp, JSON.stringify(samples.slice(-5)), promote ? nowIso() : null,
          );
          if (promote) newPlaybooks.push(pattern);
        } else {
          failures++;
          this.sql.exec(
            `INSERT INTO patterns (pattern, successes, failures, first_seen, last_seen, samples) VALUES (?, 0, 1, ?, ?, '[]')
             ON CONFLICT (pattern) DO UPDATE SET failures = failures + 1, last_seen = excluded.last_seen`,
            pattern, op.timestamp, op.timestamp,
          );
          const c = clusterOf(op);
          const existing = this.sql.exec<ClusterRow>("SELECT * FROM clusters WHERE id = ?", c.id).toArray()[0];
          const errorText = (op.error || op.output_summary || "").slice(0, 500);
          if (!existing) {
            this.sql.exec(
              `INSERT INTO clusters (id, sig_hash, endpoint, normalized_error, count, first_seen, last_seen, endpoints, sample_errors)
               VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?)`,
              c.id, c.sig_hash, c.endpoint, c.normalized_error, op.timestamp, op.timestamp,
              JSON.stringify([op.endpoint]), JSON.stringify(errorText ? [errorText] : []),
            );
          } else {
            const endpoints = JSON.parse(existing.endpoints) as string[];
            if (!endpoints.includes(op.endpoint) && endpoints.length < 20) endpoints.push(op.endpoint);
            const samples = JSON.parse(existing.sample_errors) as string[];
            if (errorText && !samples.includes(errorText) && samples.length < 5) samples.push(errorText);
            const first = Date.parse(op.timestamp) < Date.parse(existing.first_seen) ? op.timestamp : existing.first_seen;
            const last = Date.parse(op.timestamp) > Date.parse(existing.last_seen) ? op.timestamp : existing.last_seen;
            this.sql.exec(
              "UPDATE clusters SET count = count + 1, first_seen = ?, last_seen = ?, endpoints = ?, sample_errors = ? WHERE id = ?",
              first, last, JSON.stringify(endpoints), JSON.stringify(samples), c.id,
            );
          }
        }
      }
      if (processed > 0) this.setState("analysed_upto", String(lastId));
      return { processed, failures, successes, new_playbooks: newPlaybooks, more: processed === limit };
    });
  }

  /** Clusters with failures since their last recommendation, most failures first. */
  clustersNeedingRecommendation(limit: number): ClusterView[] {
    return this.sql
      .exec<ClusterRow>("SELECT * FROM clusters WHERE count > recommended_count ORDER BY count DESC, id LIMIT ?", limit)
      .toArray()
      .map(clusterView);
  }

  addRecommendation(clusterId: string, clusterCount: number, text: string, source: string, model: string | null, llmError: string | null): void {
    this.ctx.storage.transactionSync(() => {
      this.sql.exec(
        "INSERT INTO recommendations (cluster_id, created_at, cluster_count, text, source, model, llm_error) VALUES (?, ?, ?, ?, ?, ?, ?)",
        clusterId, nowIso(), clusterCount, text, source, model, llmError,
      );
      this.sql.exec("UPDATE clusters SET recommended_count = max(recommended_count, ?) WHERE id = ?", clusterCount, clusterId);
    });
  }

  /** Playbooks not yet recorded into the matrix playbook memory (retried every cycle until they are). */
  playbooksToRecord(limit: number): Playbook[] {
    return this.listPlaybooks(limit, true);
  }

  markPlaybookRecorded(pattern: string, result: { playbook_id: string } | { error: string }): void {
    if ("playbook_id" in result) {
      this.sql.exec("UPDATE patterns SET matrix_playbook_id = ?, matrix_recorded_at = ?, matrix_error = NULL WHERE pattern = ?", result.playbook_id, nowIso(), pattern);
    } else {
      this.sql.exec("UPDATE patterns SET matrix_error = ? WHERE pattern = ?", result.error, pattern);
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
      .map((r) => ({ ...r, samples: JSON.parse(r.samples) as string[], success_rate: r.successes / Math.max(1, r.successes + r.failures) }));
  }

  // ---- step 4: escalations ----

  /**
   * Creates one pending escalation for each cluster at or over the threshold that has
   * none (UNIQUE cluster_id: never a second), and returns every pending escalation with
   * its cluster — including ones a failed cycle left pending.
   */
  claimEscalations(threshold: number, limit: number): { escalation_id: number; cluster: ClusterView }[] {
    this.sql.exec(
      `INSERT OR IGNORE INTO escalations (cluster_id, created_at, cluster_count, status)
       SELECT id, ?, count, 'pending' FROM clusters WHERE count >= ?`,
      nowIso(), threshold,
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

  completeEscalation(id: number, briefing: unknown, answer: string, source: string, model: string | null, llmError: string | null): boolean {
    return this.sql.exec(
      `UPDATE escalations SET status = 'done', briefing = ?, answer = ?, source = ?, model = ?, llm_error = ?, completed_at = ?
       WHERE id = ? AND status = 'pending'`,
      JSON.stringify(briefing), answer, source, model, llmError, nowIso(), id,
    ).rowsWritten > 0;
  }

  // ---- reviews ----

  addReview(input: unknown, v: { verdict: string; confidence: number; notes: string; source: string; model: string | null; llm_error: string | null }): number {
    return this.sql
      .exec<{ id: number }>(
        "INSERT INTO reviews (created_at, input, verdict, confidence, notes, source, model, llm_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        nowIso(), JSON.stringify(input), v.verdict, v.confidence, v.notes, v.source, v.model, v.llm_error,
      )
      .one().id;
  }

  // ---- listings ----

  list(kind: "clusters" | "escalations" | "reviews" | "recommendations" | "cycles", limit: number): unknown[] {
    switch (kind) {
      case "clusters":
        return this.sql.exec<ClusterRow>("SELECT * FROM clusters ORDER BY count DESC, last_seen DESC LIMIT ?", limit).toArray().map((r) => {
          const { recommended_count: _r, ...v } = clusterView(r);
          const esc = this.sql.exec<{ id: number }>("SELECT id FROM escalations WHERE cluster_id = ?", r.id).toArray()[0];
          return { ...v, escalated: esc !== undefined };
        });
      case "escalations":
        return this.sql
          .exec<Omit<Escalation, "briefing"> & { briefing: string | null }>("SELECT * FROM escalations ORDER BY id DESC LIMIT ?", limit)
          .toArray()
          .map((r) => ({ ...r, briefing: r.briefing === null ? null : JSON.parse(r.briefing) }));
      case "reviews":
        return this.sql
          .exec<{ input: string }>("SELECT * FROM reviews ORDER BY id DESC LIMIT ?", limit)
          .toArray()
          .map((r) => ({ ...r, input: JSON.parse(r.input) }));
      case "recommendations":
        return this.sql.exec("SELECT * FROM recommendations ORDER BY id DESC LIMIT ?", limit).toArray();
      case "cycles":
        return this.sql
          .exec<{ summary: string | null }>("SELECT * FROM cycles ORDER BY started_at DESC LIMIT ?", limit)
          .toArray()
          .map((r) => ({ ...r, summary: r.summary === null ? null : JSON.parse(r.summary) }));
    }
  }
}
