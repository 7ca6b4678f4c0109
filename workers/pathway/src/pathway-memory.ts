// PathwayMemory: the trace store, one SQLite-backed Durable Object. Every write is one
// SQLite statement group inside the object's implicit transaction, so a trace is either
// fully there or not at all, and it survives restarts (storage is durable before the
// answer leaves the object).
import { DurableObject } from "cloudflare:workers";
import { MIGRATIONS } from "../../../migrations/pathway/index";
import { applyMigrations } from "../../../shared/migrations";
import type { Trace } from "../../../shared/types";

export type Failure = { error: { code: "not_found" | "conflict"; message: string } };
export type Result<T> = T | Failure;

export interface HistoryResult {
  uid: string;
  traces: Trace[];
  /** true when the walk reached a trace without a predecessor */
  complete: boolean;
  /** why the walk ended early: a predecessor already visited, one that does not exist, or the depth cap */
  stopped?: "cycle" | "missing_predecessor" | "max_depth";
  missing_uid?: string;
}

export interface SearchQuery {
  tags?: string[];
  text?: string;
  include_retired?: boolean;
  limit: number;
}

type Row = {
  uid: string;
  content: string;
  predecessor_uid: string | null;
  created_at_ns: string;
  updated_at_ns: string;
  retired: number;
  replay_count: number;
  tags: string | null;
};

const COLUMNS =
  "uid, content, predecessor_uid, created_at_ns, updated_at_ns, retired, replay_count, tags";

function toTrace(r: Row): Trace {
  const t: Trace = {
    uid: r.uid,
    content: JSON.parse(r.content),
    created_at_ns: r.created_at_ns,
    updated_at_ns: r.updated_at_ns,
    retired: r.retired === 1,
    replay_count: r.replay_count,
  };
  if (r.predecessor_uid !== null) t.predecessor_uid = r.predecessor_uid;
  if (r.tags !== null) t.tags = JSON.parse(r.tags) as string[];
  return t;
}

export class PathwayMemory extends DurableObject<Env> {
  private lastNs = 0n;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      applyMigrations(ctx.storage, MIGRATIONS);
    });
  }

  /** Nanoseconds since the epoch, strictly increasing within this object. */
  private nowNs(): string {
    let ns = BigInt(Date.now()) * 1_000_000n;
    if (ns <= this.lastNs) ns = this.lastNs + 1n;
    this.lastNs = ns;
    return ns.toString();
  }

  private row(uid: string): Row | undefined {
    return this.ctx.storage.sql
      .exec<Row>(`SELECT ${COLUMNS} FROM traces WHERE uid = ?`, uid)
      .toArray()[0];
  }

  private setTags(uid: string, tags: string[] | undefined): void {
    const sql = this.ctx.storage.sql;
    sql.exec("DELETE FROM trace_tags WHERE uid = ?", uid);
    for (const tag of new Set(tags ?? []))
      sql.exec("INSERT INTO trace_tags (uid, tag) VALUES (?, ?)", uid, tag);
  }

  private insert(
    uid: string,
    content: string,
    predecessor: string | null,
    tags: string[] | undefined,
  ): Trace {
    const ns = this.nowNs();
    this.ctx.storage.sql.exec(
      `INSERT INTO traces (${COLUMNS}) VALUES (?, ?, ?, ?, ?, 0, 0, ?)`,
      uid,
      content,
      predecessor,
      ns,
      ns,
      tags === undefined ? null : JSON.stringify(tags),
    );
    this.setTags(uid, tags);
    return toTrace(this.row(uid)!);
  }

  add(
    uid: string,
    content: string,
    tags: string[] | undefined,
    predecessor?: string,
  ): Result<Trace> {
    if (this.row(uid))
      return {
        error: {
          code: "conflict",
          message: `trace uid ${JSON.stringify(uid)} already exists (use /update, /revise or /add_idempotent)`,
        },
      };
    return this.insert(uid, content, predecessor ?? null, tags);
  }

  /** Adds the trace, or — when the uid exists — bumps its replay_count and leaves its content alone. */
  addIdempotent(
    uid: string,
    content: string,
    tags: string[] | undefined,
  ): Trace & { replayed: boolean } {
    const existing = this.row(uid);
    if (!existing) return { ...this.insert(uid, content, null, tags), replayed: false };
    this.ctx.storage.sql.exec(
      "UPDATE traces SET replay_count = replay_count + 1, updated_at_ns = ? WHERE uid = ?",
      this.nowNs(),
      uid,
    );
    return { ...toTrace(this.row(uid)!), replayed: true };
  }

  update(uid: string, content: string | undefined, tags: string[] | undefined): Result<Trace> {
    if (!this.row(uid))
      return {
        error: { code: "not_found", message: `trace uid ${JSON.stringify(uid)} not found` },
      };
    const sql = this.ctx.storage.sql;
    const ns = this.nowNs();
    if (content !== undefined)
      sql.exec("UPDATE traces SET content = ?, updated_at_ns = ? WHERE uid = ?", content, ns, uid);
    if (tags !== undefined) {
      sql.exec(
        "UPDATE traces SET tags = ?, updated_at_ns = ? WHERE uid = ?",
        JSON.stringify(tags),
        ns,
        uid,
      );
      this.setTags(uid, tags);
    }
    return toTrace(this.row(uid)!);
  }

  revise(
    predecessorUid: string,
    uid: string,
    content: string,
    tags: string[] | undefined,
  ): Result<Trace> {
    if (!this.row(predecessorUid)) {
      return {
        error: {
          code: "not_found",
          message: `predecessor_uid ${JSON.stringify(predecessorUid)} not found`,
        },
      };
    }
    return this.add(uid, content, tags, predecessorUid);
  }

  retire(uid: string): Result<Trace> {
    if (!this.row(uid))
      return {
        error: { code: "not_found", message: `trace uid ${JSON.stringify(uid)} not found` },
      };
    this.ctx.storage.sql.exec(
      "UPDATE traces SET retired = 1, updated_at_ns = ? WHERE uid = ?",
      this.nowNs(),
      uid,
    );
    return toTrace(this.row(uid)!);
  }

  get(uid: string): Result<Trace> {
    const r = this.row(uid);
    return r
      ? toTrace(r)
      : { error: { code: "not_found", message: `trace uid ${JSON.stringify(uid)} not found` } };
  }

  /** Walks predecessors from `uid`, newest first. A cycle, a missing predecessor or the depth cap ends the walk. */
  history(uid: string, maxDepth: number): Result<HistoryResult> {
    const first = this.row(uid);
    if (!first)
      return {
        error: { code: "not_found", message: `trace uid ${JSON.stringify(uid)} not found` },
      };
    const traces: Trace[] = [toTrace(first)];
    const seen = new Set([uid]);
    let current = first;
    while (current.predecessor_uid !== null) {
      const next = current.predecessor_uid;
      if (seen.has(next)) return { uid, traces, complete: false, stopped: "cycle" };
      if (traces.length >= maxDepth) return { uid, traces, complete: false, stopped: "max_depth" };
      const r = this.row(next);
      if (!r)
        return { uid, traces, complete: false, stopped: "missing_predecessor", missing_uid: next };
      seen.add(next);
      traces.push(toTrace(r));
      current = r;
    }
    return { uid, traces, complete: true };
  }

  search(q: SearchQuery): Trace[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (!q.include_retired) where.push("retired = 0");
    if (q.text) {
      where.push("(instr(lower(content), ?) > 0 OR instr(lower(uid), ?) > 0)");
      const t = q.text.toLowerCase();
      args.push(t, t);
    }
    const tags = [...new Set(q.tags ?? [])];
    if (tags.length > 0) {
      where.push(
        `uid IN (SELECT uid FROM trace_tags WHERE tag IN (${tags.map(() => "?").join(", ")}) GROUP BY uid HAVING count(*) = ?)`,
      );
      args.push(...tags, tags.length);
    }
    const sqlText = `SELECT ${COLUMNS} FROM traces ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY rowid DESC LIMIT ?`;
    return this.ctx.storage.sql
      .exec<Row>(sqlText, ...args, q.limit)
      .toArray()
      .map(toTrace);
  }

  stats(): { total: number; active: number; retired: number } {
    const r = this.ctx.storage.sql
      .exec<{ total: number; retired: number }>(
        "SELECT count(*) AS total, coalesce(sum(retired), 0) AS retired FROM traces",
      )
      .one();
    return { total: r.total, active: r.total - r.retired, retired: r.retired };
  }
}
