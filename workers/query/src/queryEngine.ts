// The QueryEngine Durable Object: one SQLite database in which every catalog dataset a
// query names is a table of its own, loaded from its Parquet objects on first use
// (or when an ingest warms it) and kept durably per catalog version. A newer version that
// only appends objects (the catalog's delta says so) loads just those objects into a
// staging table and merges them in, in one transaction, once no running query reads the
// table; any other new version is loaded into a fresh table while queries keep reading the
// old one, then swapped in and the old table dropped. The datasets held stay within
// [queryd].local_cache_mb: the least recently used go first (docs/sql.md).
import { DurableObject } from "cloudflare:workers";
import { MIGRATIONS } from "../../../migrations/query/index";
import { serviceClient } from "../../../shared/clients";
import { LakehouseError } from "../../../shared/errors";
import { lakehouseConfig } from "../../../shared/lakehouse-config";
import { applyMigrations } from "../../../shared/migrations";
import type { DatasetDelta, Manifest, SchemaField } from "../../../shared/types";
import { SQL_TYPE, createTable, loadDataset, quoteIdent } from "./loader";
import { finishRows, typeColumns, type QueryResult, type SqlType } from "./result";
import { deriveDictionary, planColumns, planDerived, planFast, readColumn, runFast, type Column, type Derived, type FastPlan, type Side } from "./columnar";
import { resolveDatasets, type TableRef } from "./guard";
import { expressionTypes } from "./output-types";

/** One entry of the columnar cache: a column, or a derived key's map over a column's dictionary. */
type CacheEntry = { column?: Column; derived?: Derived; engine: string; owner: string; bytes: number };

/**
 * The columnar fast path's cache, by `<engine>|<physical table>|<version>|<column>[|fx:<expr>]`, least
 * recently used first. Module-wide: every QueryEngine object in this isolate shares the isolate's
 * memory, so [queryd].columnar_cache_mb bounds their total, not each one's.
 */
const COLUMN_CACHE = new Map<string, CacheEntry>();
/** A derived key (a function of a text column) is evaluated per distinct value only up to this many values. */
const MAX_DERIVED_VALUES = 1_000_000;
const columnCache = { bytes: 0 };

export interface DatasetRef {
  name: string;
  version: number;
}

export interface EngineQuery {
  sql: string;
  params: (string | number | null)[];
  max_rows: number;
  /** try the columnar fast path first (config [queryd].columnar and the request's engine) */
  columnar: boolean;
  columnar_cache_bytes: number;
  /** the query is stopped with query_timeout when it has run this long */
  timeout_ms: number;
  /** the tables the statement reads, with their spans in `sql` (from the guard) */
  tables: TableRef[];
  /** refuse a plan whose nested-loop table scans multiply past this many rows ([queryd].max_join_rows) */
  max_join_rows: number;
  /** every dataset in the catalog right now, with its current version */
  datasets: DatasetRef[];
  request_id?: string;
  /** the statement's first keyword (select, with, values, explain) */
  kind?: string;
  /** bytes of loaded datasets this replica keeps; default [queryd].local_cache_mb of the engine's own config */
  local_cache_bytes?: number;
}

export interface EngineError {
  code: string;
  message: string;
  status: number;
}

export type EngineAnswer =
  | { ok: true; result: Omit<QueryResult, "elapsed_ms">; loaded: string[]; engine: "columnar" | "sqlite" }
  | { ok: false; error: EngineError };

export interface CachedTable {
  name: string;
  version: number;
  row_count: number;
  /** duration of the last load (full, or the append's objects and merge) */
  load_ms: number;
  loaded_at: string;
  /** size estimate budgeted against [queryd].local_cache_mb: the JSON text the loader inserted (see LoadStats.bytes) */
  bytes: number;
  /** when a query last read it (ISO; the epoch when never since the engine kept it) */
  last_used_at: string;
  /** how the last version was loaded: every object ("full") or only an append's new objects ("incremental") */
  last_load: "full" | "incremental";
  /** rows read from Parquet by the last load */
  last_load_rows: number;
  /** loads of this table by kind since it entered this replica (an eviction or a drop starts over) */
  loads: { full: number; incremental: number };
}

/** What one replica holds and did (since it started: the counters are in memory). */
export interface EngineStats {
  budget_bytes: number;
  bytes: number;
  tables: CachedTable[];
  loads: {
    full: number;
    incremental: number;
    /** appends whose merge waited past its bound for a running query and copied the table instead */
    copied: number;
    /** catalog deltas that were not append-only, or answered nothing usable (404: an older catalog), so a full load ran */
    full_after_delta: number;
  };
  evictions: number;
}

interface TableRow extends Record<string, SqlStorageValue> {
  name: string;
  physical: string;
  version: number;
  row_count: number;
  schema: string;
  load_ms: number;
  loaded_at: string;
  bytes: number;
  last_used_at: number;
  last_load: string;
  last_load_rows: number;
  loads_full: number;
  loads_incremental: number;
}

const TABLE_COLUMNS = "name, physical, version, row_count, schema, load_ms, loaded_at, bytes, last_used_at, last_load, last_load_rows, loads_full, loads_incremental";

/** How one ensure() loads: the catalog's manifest when the caller has it, and the cache budget. */
interface LoadOptions {
  manifest?: Manifest;
  /** datasets the eviction must keep (the ones the calling query reads) */
  protect: Set<string>;
  budget: number;
  /** longest an append's merge waits for running queries on the table before it copies it instead */
  mergeWaitMs: number;
}

function asEngineError(err: unknown, fallbackCode: string, fallbackStatus: number): EngineError {
  if (err instanceof LakehouseError) return { code: err.code, message: err.message, status: err.status };
  const message = err instanceof Error ? err.message : String(err);
  return { code: fallbackCode, message, status: fallbackStatus };
}

const YIELD_EVERY_ROWS = 2000;
/** An unloadable dataset version is not retried by every query: its error is kept this long. */
const FAILED_LOAD_TTL_MS = 60_000;
const PHYSICAL = /_lh_data_[0-9a-f]{32}/g;

/** A dataset that cannot be loaded fails only the queries that read it, with this 422. */
export function unloadableError(name: string, version: number, reason: string): LakehouseError {
  return new LakehouseError("dataset_unloadable", `sql: dataset ${JSON.stringify(name)} (version ${version}) cannot be loaded into the SQL engine: ${reason}`, { status: 422 });
}

const YIELD_EVERY_READ = 200_000;
const MiB = 1024 * 1024;
/** A table loaded this recently is not dropped by a query whose catalog list predates it. */
const RECENT_LOAD_GRACE_MS = 10_000;
/** last_used_at is written at most this often per table (reads are ordered in memory in between). */
const TOUCH_PERSIST_MS = 1000;
/** Rows per step when a merge copies a table that running queries still read. */
const COPY_CHUNK_ROWS = 20_000;

function newPhysical(): string {
  return `_lh_data_${crypto.randomUUID().replaceAll("-", "")}`;
}

function sameColumns(a: SchemaField[], b: SchemaField[]): boolean {
  return a.length === b.length && a.every((f, i) => f.name === b[i]!.name && f.type === b[i]!.type);
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

export function timeoutError(ms: number): EngineError {
  return {
    code: "query_timeout",
    message: `sql: the query ran longer than ${ms} ms ([queryd].timeout_ms or the request's timeout_ms) and was stopped`,
    status: 400,
  };
}

/**
 * The replica call threw: deployed, a statement past the Durable Object's CPU limit
 * ([limits] cpu_ms in workers/query/wrangler.toml) is ended and the stub call rejects
 * ("exceeded its CPU time limit" / "...and was reset"). Only this query fails, with a 4xx
 * naming the limit; the object restarts from its durable SQLite for the next query.
 */
export function engineFailure(err: unknown, timeoutMs: number): LakehouseError {
  if (err instanceof LakehouseError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/cpu/i.test(message) && /(limit|exceeded)/i.test(message)) {
    return new LakehouseError(
      "query_timeout",
      `sql: the query exceeded the engine's CPU limit ([limits] cpu_ms of the query Worker) before its ${timeoutMs} ms timeout could stop it, and was ended (${message})`,
      { status: 400 },
    );
  }
  if (/memory/i.test(message) && /(limit|exceeded)/i.test(message)) {
    return new LakehouseError("query_too_large", `sql: the query exceeded the engine's memory limit and was ended (${message}); narrow it (fewer rows, columns or groups)`, { status: 400 });
  }
  return new LakehouseError("service_unavailable", `sql: the query engine failed while running this query (${message}); retry`, { status: 503 });
}

export class QueryEngine extends DurableObject<Env> {
  /** loads in flight, by dataset name: concurrent queries of that dataset wait for the same load (never for another dataset's) */
  private readonly loading = new Map<string, Promise<void>>();
  /** recent load failures by `name@version`: the error and when it happened */
  private readonly failed = new Map<string, { error: LakehouseError; at: number }>();
  /** running queries reading each physical table (from their snapshot of _lh_tables to their last row) */
  private readonly readers = new Map<string, number>();
  /** merges waiting until a physical table has no readers */
  private readonly idleWaiters = new Map<string, Set<() => void>>();
  /** running queries per dataset name (from resolution to answer): eviction keeps these */
  private readonly pins = new Map<string, number>();
  /** the last read of each dataset, exact and in memory; persisted to last_used_at at most every TOUCH_PERSIST_MS */
  private readonly used = new Map<string, { at: number; seq: number }>();
  private useSeq = 0;
  private readonly counters = { full: 0, incremental: 0, copied: 0, full_after_delta: 0, evictions: 0 };
  /** a collection skipped a table that a running query reads: collect again when a query ends */
  private garbageWaits = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      applyMigrations(ctx.storage, MIGRATIONS);
      // a load cut short by a restart leaves its physical table behind
      const sql = ctx.storage.sql;
      const orphans = sql
        .exec<{ name: string }>(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '\\_lh\\_data\\_%' ESCAPE '\\' AND name NOT IN (SELECT physical FROM _lh_tables)",
        )
        .toArray();
      for (const t of orphans) sql.exec("INSERT OR IGNORE INTO _lh_garbage (physical) VALUES (?)", t.name);
      // Datasets are no longer views named like the dataset (names differing only in case, or
      // named like SQL words, collided in SQLite's one case-insensitive namespace): queries are
      // rewritten to read the physical tables. Views left by an older version go.
      for (const v of sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'view'").toArray()) {
        sql.exec(`DROP VIEW IF EXISTS ${quoteIdent(v.name)}`);
      }
      // Tables loaded before sizes were kept (migration 0002): estimate from a sample of 1000 rows.
      for (const t of sql.exec<{ name: string; physical: string; schema: string; row_count: number }>("SELECT name, physical, schema, row_count FROM _lh_tables WHERE bytes = 0 AND row_count > 0").toArray()) {
        try {
          const cols = (JSON.parse(t.schema) as SchemaField[]).map((f) => quoteIdent(f.name)).join(", ");
          const sample = sql
            .exec<{ n: number; len: number }>(`SELECT count(*) AS n, coalesce(sum(length(json_array(${cols}))), 0) AS len FROM (SELECT ${cols} FROM ${quoteIdent(t.physical)} LIMIT 1000)`)
            .one();
          if (sample.n > 0) sql.exec("UPDATE _lh_tables SET bytes = ? WHERE name = ?", Math.ceil((sample.len / sample.n) * t.row_count), t.name);
        } catch {
          // unreadable: it counts 0 until its next load
        }
      }
      this.collectGarbage();
    });
  }

  private tables(): Map<string, TableRow> {
    const rows = this.ctx.storage.sql.exec<TableRow>(`SELECT ${TABLE_COLUMNS} FROM _lh_tables`).toArray();
    return new Map(rows.map((r) => [r.name, r]));
  }

  /** The cache budget in bytes: the caller's, else [queryd].local_cache_mb of this engine's config. */
  private budget(override?: number): number {
    if (override !== undefined && Number.isFinite(override) && override > 0) return override;
    return lakehouseConfig(this.env).queryd.local_cache_mb * MiB;
  }

  /** Drops physical tables no longer in use; one still read by a running query or an abandoned cursor stays queued. */
  private collectGarbage(): void {
    const sql = this.ctx.storage.sql;
    this.garbageWaits = false;
    for (const { physical } of sql.exec<{ physical: string }>("SELECT physical FROM _lh_garbage").toArray()) {
      if (this.readers.has(physical)) {
        this.garbageWaits = true; // a running query still reads it: collected when the last one ends
        continue;
      }
      try {
        sql.exec(`DROP TABLE IF EXISTS ${quoteIdent(physical)}`);
        sql.exec("DELETE FROM _lh_garbage WHERE physical = ?", physical);
      } catch {
        // SQLITE_LOCKED: a cursor left open (truncated or timed-out result) still reads it; retry later
      }
    }
  }

  /** Queues a physical table that never became a dataset's (a failed or abandoned load) for dropping. */
  private discard(physical: string): void {
    this.ctx.storage.sql.exec("INSERT OR IGNORE INTO _lh_garbage (physical) VALUES (?)", physical);
    this.collectGarbage();
  }

  private forget(name: string): TableRow | undefined {
    const current = this.tables().get(name);
    this.ctx.storage.transactionSync(() => {
      this.ctx.storage.sql.exec("DELETE FROM _lh_tables WHERE name = ?", name);
      if (current) this.ctx.storage.sql.exec("INSERT OR IGNORE INTO _lh_garbage (physical) VALUES (?)", current.physical);
    });
    this.used.delete(name);
    return current;
  }

  private drop(name: string): void {
    this.forget(name);
    this.collectGarbage();
  }

  // --- readers: a merge into a table waits until no running query iterates over it ---

  private acquire(physicals: Iterable<string>): string[] {
    const list = [...new Set(physicals)];
    for (const p of list) this.readers.set(p, (this.readers.get(p) ?? 0) + 1);
    return list;
  }

  private release(list: string[]): void {
    for (const p of list) {
      const n = (this.readers.get(p) ?? 1) - 1;
      if (n > 0) {
        this.readers.set(p, n);
        continue;
      }
      this.readers.delete(p);
      const waiters = this.idleWaiters.get(p);
      if (waiters) {
        this.idleWaiters.delete(p);
        for (const wake of waiters) wake();
      }
    }
    if (this.garbageWaits) this.collectGarbage();
  }

  /** Resolves when the last reader of `physical` is gone, or after `ms`; the caller checks the count again. */
  private released(physical: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const set = this.idleWaiters.get(physical) ?? new Set<() => void>();
      this.idleWaiters.set(physical, set);
      const wake = () => {
        clearTimeout(timer);
        set.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.max(1, ms));
      set.add(wake);
    });
  }

  // --- recency and eviction ---

  /** Marks datasets as read now (LRU order in memory; last_used_at persisted at most every TOUCH_PERSIST_MS per table). */
  private touch(rows: Iterable<TableRow>): void {
    const now = Date.now();
    for (const t of rows) {
      this.used.set(t.name, { at: now, seq: ++this.useSeq });
      if (now - t.last_used_at >= TOUCH_PERSIST_MS) this.ctx.storage.sql.exec("UPDATE _lh_tables SET last_used_at = ? WHERE name = ?", now, t.name);
    }
  }

  private recency(t: TableRow): [number, number] {
    const u = this.used.get(t.name);
    return u ? [Math.max(u.at, t.last_used_at), u.seq] : [t.last_used_at, 0];
  }

  /**
   * Makes room for `incoming` bytes: evicts least recently used datasets until the held total
   * plus `incoming` fits `budget`. Never evicts a dataset in `protect`, one a running query
   * reads or is about to read, or one being loaded; `replacing` names the dataset whose held
   * table the incoming load replaces (not counted). A dataset that alone exceeds the budget is
   * still loaded: then everything else that can go, goes.
   */
  private evict(budget: number, incoming: number, protect: Set<string>, replacing?: string): number {
    const held = [...this.tables().values()];
    let total = incoming;
    for (const t of held) if (t.name !== replacing) total += t.bytes;
    if (total <= budget) return 0;
    const victims = held
      .filter((t) => t.name !== replacing && !protect.has(t.name) && !this.pins.has(t.name) && !this.loading.has(t.name) && !this.readers.has(t.physical))
      .map((t) => ({ t, key: this.recency(t) }))
      .sort((a, b) => a.key[0] - b.key[0] || a.key[1] - b.key[1]);
    let evicted = 0;
    for (const { t } of victims) {
      if (total <= budget) break;
      this.forget(t.name);
      total -= t.bytes;
      evicted++;
    }
    if (evicted) {
      this.counters.evictions += evicted;
      this.collectGarbage();
    }
    return evicted;
  }

  // --- loading ---

  /** Makes sure `name` is loaded at `version` or newer (catalog versions of a name never repeat or go back). */
  private async ensure(name: string, version: number, opts: LoadOptions): Promise<boolean> {
    for (;;) {
      const current = this.tables().get(name);
      if (current && current.version >= version) return false;
      const inflight = this.loading.get(name);
      if (!inflight) break;
      await inflight.catch(() => undefined);
    }
    const key = `${name}@${version}`;
    const failure = this.failed.get(key);
    if (failure && Date.now() - failure.at < FAILED_LOAD_TTL_MS) throw failure.error;
    const load = this.load(name, version, opts)
      .catch((err: unknown) => {
        const error = err instanceof LakehouseError ? err : unloadableError(name, version, err instanceof Error ? err.message : String(err));
        if (error.code === "dataset_unloadable") this.failed.set(key, { error, at: Date.now() });
        throw error;
      })
      .finally(() => this.loading.delete(name));
    this.loading.set(name, load);
    // The load belongs to the object, not to the call that started it: a caller that goes away
    // (a notification nobody awaits) does not end it, and later queries of the dataset wait for it.
    this.ctx.waitUntil(load.catch(() => undefined));
    await load;
    return true;
  }

  private loadFailure(name: string, version: number, err: unknown): LakehouseError {
    if (err instanceof LakehouseError) return err;
    const message = (err instanceof Error ? err.message : String(err)).replace(/: SQLITE_[A-Z_]+$/, "").replace(PHYSICAL, name);
    return unloadableError(name, version, message);
  }

  private async load(name: string, version: number, opts: LoadOptions): Promise<void> {
    if (/^(_lh_|sqlite_|_cf_)/i.test(name)) {
      throw new LakehouseError("bad_request", `dataset name ${JSON.stringify(name)} is reserved by the query engine and cannot be queried`);
    }
    const held = this.tables().get(name);
    if (held && held.version < version) {
      const delta = await this.delta(name, held.version, version);
      if (delta && (await this.append(name, held, delta, opts))) return;
      this.counters.full_after_delta++;
    }
    await this.fullLoad(name, version, opts);
  }

  /** The catalog's delta from the held version, when it is a usable append; null otherwise (not append-only, 404 from an older catalog, any failure). */
  private async delta(name: string, from: number, to: number): Promise<DatasetDelta | null> {
    try {
      const d = await serviceClient(this.env as never, "catalog").json<DatasetDelta>(`/delta/${encodeURIComponent(name)}?from=${from}&to=${to}`);
      const usable =
        d && d.append_only === true && d.name === name && d.from === from && d.to === to && Array.isArray(d.added) && Array.isArray(d.schema) && typeof d.row_count === "number";
      return usable ? d : null;
    } catch {
      return null;
    }
  }

  /**
   * An append: loads only the delta's new objects into a staging table, then merges it into
   * the dataset's table in one synchronous transaction — once no running query of this
   * replica reads that table (a query iterating over it must not see half an append), for at
   * most `mergeWaitMs`; past that, the table is copied (in steps, yielding) with the new rows
   * into a fresh table that is swapped in, and the running queries finish on the old one.
   * False when the append cannot be trusted (schema or row counts disagree, the held table
   * changed meanwhile): the caller loads in full.
   */
  private async append(name: string, held: TableRow, delta: DatasetDelta, opts: LoadOptions): Promise<boolean> {
    const sql = this.ctx.storage.sql;
    if (!sameColumns(JSON.parse(held.schema) as SchemaField[], delta.schema)) return false;
    const declared = delta.added.reduce((n, o) => n + o.row_count, 0);
    if (held.row_count + declared !== delta.row_count) return false;
    const started = Date.now();
    let stage: string | null = null;
    let rows = 0;
    let bytes = 0;
    if (delta.added.length > 0) {
      const perRow = held.row_count > 0 ? held.bytes / held.row_count : 0;
      const estimate = perRow > 0 ? Math.ceil(perRow * declared) : delta.added.reduce((n, o) => n + o.size, 0);
      this.evict(opts.budget, estimate, new Set([...opts.protect, name]));
      stage = newPhysical();
      try {
        const stats = await loadDataset(sql, this.env.LAKE, { name, schema: delta.schema, objects: delta.added }, stage);
        rows = stats.rows;
        bytes = stats.bytes;
      } catch (err) {
        this.discard(stage);
        throw this.loadFailure(name, delta.to, err);
      }
      if (held.row_count + rows !== delta.row_count) {
        this.discard(stage);
        return false;
      }
    }
    const stillHeld = () => {
      const c = this.tables().get(name);
      return !!c && c.physical === held.physical && c.version === held.version;
    };
    const target = quoteIdent(held.physical);
    const cols = delta.schema.map((f) => quoteIdent(f.name)).join(", ");
    const until = Date.now() + opts.mergeWaitMs;
    while (stage && this.readers.has(held.physical) && Date.now() < until) await this.released(held.physical, until - Date.now());
    if (!stillHeld()) {
      if (stage) this.discard(stage);
      return false;
    }
    let merged = false;
    if (!stage || !this.readers.has(held.physical)) {
      // nothing reads the table: the merge, the stage's drop and the bookkeeping in one transaction
      // (no await between the reader check above and here). SQLite may still refuse the write
      // (SQLITE_LOCKED: a cursor of a truncated or timed-out result left open on the table): then
      // the transaction rolls back and the table is copied instead, as below.
      try {
        this.ctx.storage.transactionSync(() => {
        if (stage) {
          sql.exec(`INSERT INTO ${target} (${cols}) SELECT ${cols} FROM ${quoteIdent(stage)} ORDER BY rowid`);
          sql.exec(`DROP TABLE ${quoteIdent(stage)}`);
        }
        sql.exec(
          "UPDATE _lh_tables SET version = ?, row_count = ?, schema = ?, bytes = bytes + ?, load_ms = ?, loaded_at = ?, last_load = 'incremental', last_load_rows = ?, loads_incremental = loads_incremental + 1, last_used_at = ? WHERE name = ?",
          delta.to, held.row_count + rows, JSON.stringify(delta.schema), bytes, Date.now() - started, new Date().toISOString(), rows, Date.now(), name,
        );
        });
        merged = true;
      } catch {
        merged = false;
      }
    }
    if (!merged && stage) {
      const copy = newPhysical();
      try {
        createTable(sql, copy, delta.schema, name);
        const range = sql.exec<{ lo: number | null; hi: number | null }>(`SELECT min(rowid) AS lo, max(rowid) AS hi FROM ${target}`).one();
        if (range.lo !== null && range.hi !== null) {
          for (let lo = range.lo; lo <= range.hi; lo += COPY_CHUNK_ROWS) {
            sql.exec(`INSERT INTO ${quoteIdent(copy)} (${cols}) SELECT ${cols} FROM ${target} WHERE rowid >= ? AND rowid < ? ORDER BY rowid`, lo, lo + COPY_CHUNK_ROWS);
            await tick(); // other queries run between steps
            if (!stillHeld()) throw new Error("the dataset's table changed while it was being copied");
          }
        }
      } catch {
        this.discard(copy);
        this.discard(stage);
        return false;
      }
      this.ctx.storage.transactionSync(() => {
        sql.exec(`INSERT INTO ${quoteIdent(copy)} (${cols}) SELECT ${cols} FROM ${quoteIdent(stage)} ORDER BY rowid`);
        sql.exec(
          "UPDATE _lh_tables SET physical = ?, version = ?, row_count = ?, schema = ?, bytes = ?, load_ms = ?, loaded_at = ?, last_load = 'incremental', last_load_rows = ?, loads_incremental = loads_incremental + 1, last_used_at = ? WHERE name = ?",
          copy, delta.to, held.row_count + rows, JSON.stringify(delta.schema), held.bytes + bytes, Date.now() - started, new Date().toISOString(), rows, Date.now(), name,
        );
        sql.exec("INSERT OR IGNORE INTO _lh_garbage (physical) VALUES (?)", held.physical);
        sql.exec("INSERT OR IGNORE INTO _lh_garbage (physical) VALUES (?)", stage);
      });
      this.counters.copied++;
    }
    this.used.set(name, { at: Date.now(), seq: ++this.useSeq });
    this.counters.incremental++;
    this.evict(opts.budget, 0, new Set([...opts.protect, name]));
    this.collectGarbage();
    return true;
  }

  /** Every object of the version into a fresh table, swapped in for the held one (which queries may keep reading until they end). */
  private async fullLoad(name: string, version: number, opts: LoadOptions): Promise<void> {
    const given = opts.manifest;
    const manifest =
      given && given.version === version
        ? given
        : await serviceClient(this.env as never, "catalog").json<Manifest>(`/manifest/${encodeURIComponent(name)}?version=${version}`);
    const protect = new Set([...opts.protect, name]);
    const before = this.tables().get(name);
    const estimate =
      before && before.row_count > 0 && before.bytes > 0
        ? Math.ceil((before.bytes / before.row_count) * manifest.row_count)
        : manifest.objects.reduce((n, o) => n + o.size, 0);
    this.evict(opts.budget, estimate, protect, name);
    const stage = newPhysical();
    const started = Date.now();
    let stats: { rows: number; bytes: number };
    try {
      stats = await loadDataset(this.ctx.storage.sql, this.env.LAKE, manifest, stage);
    } catch (err) {
      this.discard(stage);
      throw this.loadFailure(name, version, err);
    }
    const loadMs = Date.now() - started;
    const previous = this.tables().get(name);
    const now = Date.now();
    this.ctx.storage.transactionSync(() => {
      const sql = this.ctx.storage.sql;
      sql.exec(
        `INSERT OR REPLACE INTO _lh_tables (${TABLE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'full', ?, ?, ?)`,
        name, stage, manifest.version, stats.rows, JSON.stringify(manifest.schema), loadMs, new Date().toISOString(),
        stats.bytes, now, stats.rows, (previous?.loads_full ?? 0) + 1, previous?.loads_incremental ?? 0,
      );
      if (previous) sql.exec("INSERT OR IGNORE INTO _lh_garbage (physical) VALUES (?)", previous.physical);
    });
    this.used.set(name, { at: now, seq: ++this.useSeq });
    this.counters.full++;
    this.evict(opts.budget, 0, protect);
    this.collectGarbage();
  }

  /** The statement with each dataset reference replaced by its physical table (aliased to the name as written). */
  private rewrite(sqlText: string, refs: TableRef[], physical: Map<string, TableRow>): string {
    let out = sqlText;
    for (const ref of [...refs].sort((x, y) => y.from - x.from)) {
      const t = physical.get(ref.name)!;
      const replacement = ref.aliased ? quoteIdent(t.physical) : `${quoteIdent(t.physical)} AS ${quoteIdent(ref.name)}`;
      out = out.slice(0, ref.from) + replacement + out.slice(ref.to);
    }
    return out;
  }

  /**
   * Refuses, before running, a plan whose nested loops scan dataset tables whose row counts
   * multiply past the budget (SQLite cannot be interrupted inside one step: a cross join
   * aggregated into one row would run to its end).
   */
  private checkJoinBudget(sqlText: string, params: (string | number | null)[], rowsByName: Map<string, { name: string; rows: number }>, budget: number): void {
    let plan: { id: number; parent: number; detail: string }[];
    try {
      plan = this.ctx.storage.sql.exec<{ id: number; parent: number; detail: string }>(`EXPLAIN QUERY PLAN ${sqlText}`, ...params).toArray();
    } catch {
      return; // the statement itself will report the error
    }
    const groups = new Map<number, { product: number; names: string[] }>();
    for (const step of plan) {
      // "SCAN <table or alias>[ AS <alias>]..." (the spelling differs between SQLite versions)
      const m = /^SCAN ("(?:[^"]|"")*"|\S+)(?: AS ("(?:[^"]|"")*"|\S+))?/.exec(step.detail);
      if (!m) continue;
      const unquote = (x: string) => (x.startsWith('"') ? x.slice(1, -1).replaceAll('""', '"') : x).toLowerCase();
      const info = rowsByName.get(unquote(m[1]!)) ?? (m[2] ? rowsByName.get(unquote(m[2])) : undefined);
      if (!info) continue;
      const g = groups.get(step.parent) ?? { product: 1, names: [] };
      g.product *= Math.max(1, info.rows);
      g.names.push(`${info.name} (${info.rows} rows)`);
      groups.set(step.parent, g);
    }
    for (const g of groups.values()) {
      if (g.names.length > 1 && g.product > budget) {
        throw new LakehouseError(
          "query_too_large",
          `sql: the query scans ${g.names.join(" × ")} in nested loops ≈ ${g.product.toExponential(2)} row combinations, over the budget [queryd].max_join_rows = ${budget}; add an equality join condition (or filter/LIMIT in a subquery) or raise the key`,
          { status: 400 },
        );
      }
    }
  }

  /**
   * Drops cached datasets the catalog no longer has (their queries already answer "no such
   * table"; this frees the space). Not one that is loading, read by a running query, or loaded
   * in the last RECENT_LOAD_GRACE_MS: this query's catalog list may predate it.
   */
  private dropDeleted(datasets: DatasetRef[]): void {
    const inCatalog = new Set(datasets.map((d) => d.name));
    const now = Date.now();
    for (const [name, t] of this.tables()) {
      if (inCatalog.has(name) || this.loading.has(name) || this.pins.has(name)) continue;
      if (now - Date.parse(t.loaded_at) < RECENT_LOAD_GRACE_MS) continue;
      this.drop(name);
    }
  }

  /** Runs one checked read-only statement (the Worker ran the guard). */
  async query(q: EngineQuery): Promise<EngineAnswer> {
    const deadline = Date.now() + q.timeout_ms;
    let resolved: Map<string, DatasetRef>;
    try {
      this.dropDeleted(q.datasets);
      resolved = resolveDatasets(q.tables, q.datasets);
    } catch (err) {
      return { ok: false, error: asEngineError(err, "internal", 500) };
    }
    // the datasets this query reads are pinned until it answers: no eviction takes them meanwhile
    const names = [...new Set([...resolved.values()].map((d) => d.name))];
    for (const n of names) this.pins.set(n, (this.pins.get(n) ?? 0) + 1);
    try {
      return await this.run(q, resolved, names, deadline);
    } finally {
      for (const n of names) {
        const left = (this.pins.get(n) ?? 1) - 1;
        if (left > 0) this.pins.set(n, left);
        else this.pins.delete(n);
      }
    }
  }

  private async run(q: EngineQuery, resolved: Map<string, DatasetRef>, names: string[], deadline: number): Promise<EngineAnswer> {
    const loaded: string[] = [];
    try {
      // only the datasets this statement reads are loaded; one that cannot be loaded fails this query alone
      const opts: LoadOptions = { protect: new Set(names), budget: this.budget(q.local_cache_bytes), mergeWaitMs: Math.floor(q.timeout_ms / 2) };
      for (const ref of new Set(resolved.values())) {
        if (await this.ensure(ref.name, ref.version, opts)) loaded.push(ref.name);
      }
    } catch (err) {
      return { ok: false, error: asEngineError(err, "internal", 500) };
    }
    if (Date.now() > deadline) return { ok: false, error: timeoutError(q.timeout_ms) };
    // From this snapshot to the last row, the tables read are registered as read (no await in between):
    // an append's merge into one of them waits until this query is done.
    const tables = this.tables();
    const byRef = new Map<string, TableRow>();
    for (const [written, ref] of resolved) {
      const t = tables.get(ref.name);
      if (!t) return { ok: false, error: { code: "bad_request", message: `no such table: ${written}`, status: 400 } };
      byRef.set(written, t);
    }
    const reading = this.acquire([...byRef.values()].map((t) => t.physical));
    try {
      this.touch(new Set(byRef.values()));
      return await this.execute(q, byRef, loaded, deadline);
    } finally {
      this.release(reading);
    }
  }

  private async execute(q: EngineQuery, byRef: Map<string, TableRow>, loaded: string[], deadline: number): Promise<EngineAnswer> {
    const declared = new Map<string, SqlType>();
    const conflicting = new Set<string>();
    for (const t of new Set(byRef.values())) {
      for (const f of JSON.parse(t.schema) as SchemaField[]) {
        const key = f.name.toLowerCase();
        const type = SQL_TYPE[f.type] as SqlType;
        if (declared.has(key) && declared.get(key) !== type) conflicting.add(key);
        declared.set(key, type);
      }
    }
    for (const key of conflicting) declared.delete(key);
    // a result column is typed from its expression (output-types.ts); by its name only where that cannot tell
    const byExpression = expressionTypes(q.sql, q.tables, (written) => {
      const t = byRef.get(written);
      return t && new Map((JSON.parse(t.schema) as SchemaField[]).map((f) => [f.name.toLowerCase(), SQL_TYPE[f.type] as SqlType]));
    });
    const declaredFor = (names: string[]): (SqlType | undefined)[] =>
      names.map((n, c) => {
        const t = byExpression?.length === names.length ? byExpression[c] : undefined;
        return t === undefined ? declared.get(n.toLowerCase()) : (t ?? undefined);
      });
    const toName = new Map([...byRef.values()].map((t) => [t.physical, t.name]));
    const unphysical = (text: string) => text.replace(PHYSICAL, (p) => toName.get(p) ?? "(internal)");
    if (q.columnar && q.params.length === 0 && q.tables.length >= 1 && q.tables.length <= 2) {
      try {
        const fast = await this.tryColumnar(q.sql, byRef, q.columnar_cache_bytes, deadline);
        if (fast === "timeout") return { ok: false, error: timeoutError(q.timeout_ms) };
        if (fast) {
          let rows = fast.rows;
          const truncated = rows.length > q.max_rows;
          if (truncated) rows = rows.slice(0, q.max_rows);
          const columns = typeColumns(fast.names, rows, declaredFor(fast.names));
          finishRows(columns, rows);
          return { ok: true, result: { columns, rows, row_count: rows.length, truncated }, loaded, engine: "columnar" };
        }
      } catch (err) {
        // a fault of the fast path must not fail the query: SQLite answers it (and the fault is logged)
        console.error(`sql: the columnar path failed, SQLite answers instead: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      }
    }
    const text = this.rewrite(q.sql, q.tables, byRef);
    try {
      // scans are named by physical table, by alias, or by the dataset name as written (the alias the rewrite adds)
      const rowsByName = new Map<string, { name: string; rows: number }>();
      const note = (key: string, t: TableRow) => {
        const k = key.toLowerCase();
        const prev = rowsByName.get(k);
        if (!prev || prev.rows < t.row_count) rowsByName.set(k, { name: t.name, rows: t.row_count });
      };
      for (const ref of q.tables) {
        const t = byRef.get(ref.name)!;
        note(t.physical, t);
        note(ref.alias ?? ref.name, t);
      }
      this.checkJoinBudget(text, q.params, rowsByName, q.max_join_rows);
    } catch (err) {
      return { ok: false, error: asEngineError(err, "internal", 500) };
    }
    try {
      const cursor = this.ctx.storage.sql.exec(text, ...q.params);
      const names = cursor.columnNames;
      const rows: unknown[][] = [];
      let truncated = false;
      // Cooperative time limit: between rows, after a batch of rows or a lot of rows read,
      // yield (so other queries on this replica run and the clock moves) and check the deadline.
      // (The clock does not move while JavaScript runs without I/O, so each check is a yield.)
      let sinceYield = 0;
      let readAtYield = 0;
      for (const row of cursor.raw()) {
        if (rows.length >= q.max_rows) {
          truncated = true;
          break;
        }
        rows.push(row);
        if (++sinceYield >= YIELD_EVERY_ROWS || cursor.rowsRead - readAtYield >= YIELD_EVERY_READ) {
          await tick();
          if (Date.now() > deadline) return { ok: false, error: timeoutError(q.timeout_ms) };
          sinceYield = 0;
          readAtYield = cursor.rowsRead;
        }
      }
      if (Date.now() > deadline) return { ok: false, error: timeoutError(q.timeout_ms) };
      const columns = typeColumns(names, rows, declaredFor(names));
      finishRows(columns, rows);
      if (q.kind === "explain") {
        for (const row of rows) for (let i = 0; i < row.length; i++) if (typeof row[i] === "string") row[i] = unphysical(row[i] as string);
      }
      return { ok: true, result: { columns, rows, row_count: rows.length, truncated }, loaded, engine: "sqlite" };
    } catch (err) {
      const message = unphysical((err instanceof Error ? err.message : String(err)).replace(/: SQLITE_[A-Z_]+$/, ""));
      return { ok: false, error: { code: "bad_request", message, status: 400 } };
    }
  }

  /** The fast path: a plan over one or two datasets' typed columns, or null (SQLite answers). */
  private async tryColumnar(
    sqlText: string,
    byRef: Map<string, TableRow>,
    budget: number,
    deadline: number,
  ): Promise<{ names: string[]; rows: unknown[][] } | null | "timeout"> {
    const schemas = new Map<string, Map<string, string>>();
    for (const [written, t] of byRef) {
      schemas.set(written, new Map((JSON.parse(t.schema) as SchemaField[]).map((f) => [f.name.toLowerCase(), f.name])));
    }
    const plan = planFast(sqlText, schemas);
    if (!plan) return null;
    try {
      return await this.runColumnar(plan, byRef, budget, deadline);
    } finally {
      // keep the cache within its budget: least recently used first (this query's entries are the most recent)
      for (const [key, entry] of COLUMN_CACHE) {
        if (columnCache.bytes <= budget) break;
        COLUMN_CACHE.delete(key);
        columnCache.bytes -= entry.bytes;
      }
      const me = this.ctx.id.toString();
      const live = new Set([...this.tables().values()].map((t) => `${t.physical}|${t.version}`));
      for (const [key, entry] of COLUMN_CACHE) {
        if (entry.engine === me && !live.has(entry.owner)) {
          COLUMN_CACHE.delete(key); // a dropped, evicted or appended-to version
          columnCache.bytes -= entry.bytes;
        }
      }
    }
  }

  /**
   * Reads (or finds cached) the plan's columns and derived keys and runs it; null when SQLite must
   * answer — also when the columns this one query needs would not fit the cache's budget (the
   * budget bounds the isolate's memory; SQLite scans in constant memory).
   */
  private async runColumnar(plan: FastPlan, byRef: Map<string, TableRow>, budget: number, deadline: number): Promise<{ names: string[]; rows: unknown[][] } | null | "timeout"> {
    const me = this.ctx.id.toString();
    const needed = planColumns(plan);
    const sides: Side[] = [];
    let mine = 0; // bytes of the entries this query uses
    const cached = (key: string): CacheEntry | undefined => {
      const hit = COLUMN_CACHE.get(key);
      if (hit) {
        COLUMN_CACHE.delete(key); // most recently used goes last
        COLUMN_CACHE.set(key, hit);
        mine += hit.bytes;
      }
      return hit;
    };
    const keep = (key: string, entry: CacheEntry) => {
      COLUMN_CACHE.set(key, entry);
      columnCache.bytes += entry.bytes;
      mine += entry.bytes;
    };
    const owners: string[] = [];
    for (const [side, written] of plan.tables.entries()) {
      const table = byRef.get(written)!;
      const types = new Map((JSON.parse(table.schema) as SchemaField[]).map((f) => [f.name, f.type]));
      // Columns are cached per physical table AND version: an append merges into the same table,
      // so a column read before it must not answer after it.
      const owner = `${table.physical}|${table.version}`;
      owners.push(owner);
      const cols = new Map<string, Column>();
      for (const name of needed[side]!) {
        const key = `${me}|${owner}|${name}`;
        let col = cached(key)?.column;
        if (!col) {
          // at least 4 bytes a row (a code or an int32): what cannot fit the budget is SQLite's
          if (mine + table.row_count * 4 > budget) return null;
          // reading a column is the slow part: yield first (other queries run, the clock moves) and check the deadline
          await tick();
          if (Date.now() > deadline) return "timeout";
          const type = types.get(name);
          // INTEGER (int64, bool) and REAL (float64) columns sum differently in SQLite: exact int64 vs Kahan
          const numeric = type === "int64" || type === "bool" ? "integer" : type === "float64" ? "real" : false;
          const c = readColumn(this.ctx.storage.sql, table.physical, name, numeric, table.row_count, budget - mine);
          if (!c) return null;
          col = c;
          keep(key, { column: c, engine: me, owner, bytes: c.bytes });
          if (mine > budget) return null;
        }
        cols.set(name, col);
      }
      sides.push({ rows: table.row_count, cols });
    }
    // functions of a text column (GROUP BY substr(date, 1, 7), ...): SQLite evaluates them once per distinct value
    const derived = new Map<string, Derived>();
    for (const k of planDerived(plan)) {
      const col = sides[k.ref.side]!.cols.get(k.ref.col)!;
      if (col.kind !== "str") return null;
      const key = `${me}|${owners[k.ref.side]}|${k.ref.col}|fx:${k.fx}`;
      let d = cached(key)?.derived;
      if (!d) {
        // SQLite evaluates the expression once per distinct value: that many is SQLite's own scan
        if (col.dict.length > MAX_DERIVED_VALUES || mine + col.dict.length * 8 > budget) return null;
        if (Date.now() > deadline) return "timeout";
        try {
          d = deriveDictionary(this.ctx.storage.sql, k.fx!, col.dict);
        } catch {
          return null; // an error or a value the fast path does not hold: SQLite answers (and names any error)
        }
        keep(key, { derived: d, engine: me, owner: owners[k.ref.side]!, bytes: d.bytes });
      }
      derived.set(k.id, d);
    }
    if (Date.now() > deadline) return "timeout";
    // a join's hash table counts against the same budget as the columns
    return runFast(plan, sides, derived, Math.max(0, budget - mine));
  }

  /**
   * The catalog committed a change: drop the table of a deleted dataset; with `warm`, load the
   * new version now (incrementally when the catalog's delta is an append). Without `warm` the
   * held copy stays: no query reads it before catching up to the catalog's version, which an
   * append then does incrementally. The load belongs to the object: it runs to its end whether
   * or not the caller (the catalog, which need not await this) waits. `cacheBytes` overrides
   * [queryd].local_cache_mb (tests).
   */
  async changed(
    name: string,
    version: number | null,
    manifest: Manifest | null,
    warm: boolean,
    cacheBytes?: number,
  ): Promise<{ dropped: boolean; loaded: boolean; load?: "full" | "incremental"; error?: string }> {
    const current = this.tables().get(name);
    if (version === null) {
      if (current) this.drop(name);
      return { dropped: !!current, loaded: false };
    }
    if (current && current.version >= version) return { dropped: false, loaded: false };
    if (!warm) return { dropped: false, loaded: false };
    const opts: LoadOptions = {
      manifest: manifest ?? undefined,
      protect: new Set([name]),
      budget: this.budget(cacheBytes),
      mergeWaitMs: lakehouseConfig(this.env).queryd.timeout_ms,
    };
    try {
      await this.ensure(name, version, opts);
    } catch (err) {
      // an unloadable dataset must not fail the catalog's change: queries that read it say why
      if (current) this.drop(name);
      return { dropped: !!current, loaded: false, error: asEngineError(err, "internal", 500).message };
    }
    const now = this.tables().get(name);
    const load = now?.last_load === "incremental" ? "incremental" : "full";
    return { dropped: !!current && now?.physical !== current.physical, loaded: true, load };
  }

  private describe(t: TableRow): CachedTable {
    const u = this.used.get(t.name);
    return {
      name: t.name,
      version: t.version,
      row_count: t.row_count,
      load_ms: t.load_ms,
      loaded_at: t.loaded_at,
      bytes: t.bytes,
      last_used_at: new Date(Math.max(u?.at ?? 0, t.last_used_at)).toISOString(),
      last_load: t.last_load === "incremental" ? "incremental" : "full",
      last_load_rows: t.last_load_rows,
      loads: { full: t.loads_full, incremental: t.loads_incremental },
    };
  }

  /** What this replica holds. */
  async cached(): Promise<CachedTable[]> {
    return [...this.tables().values()].map((t) => this.describe(t));
  }

  /** What this replica holds, its budget, and what its loads did since it started. */
  async stats(cacheBytes?: number): Promise<EngineStats> {
    const tables = [...this.tables().values()].map((t) => this.describe(t));
    const { evictions, ...loads } = this.counters;
    return { budget_bytes: this.budget(cacheBytes), bytes: tables.reduce((n, t) => n + t.bytes, 0), tables, loads: { ...loads }, evictions };
  }
}
