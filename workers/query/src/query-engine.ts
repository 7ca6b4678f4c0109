// The QueryEngine Durable Object: one SQLite database in which every catalog dataset a
// query names is a table of its own, loaded from its Parquet objects on first use
// (or when an ingest warms it) and kept durably per catalog version. A newer version that
// only appends objects (the catalog's delta says so) loads just those objects into a
// staging table and merges them in, in one transaction, once no running query reads the
// table; any other new version is loaded into a fresh table while queries keep reading the
// old one, then swapped in and the old table dropped. The datasets held stay within
// [queryd].local_cache_mb: the least recently used go first (docs/sql.md).
// This file owns the object's RPC methods (query, changed, cached, stats) and the order of a
// query: resolve, pin, load, snapshot and register as read, run, release. Rule: what it holds
// lives in engine-tables.ts, how versions load in engine-loads.ts, how a statement runs in
// run-statement.ts (the columnar path and its cache in columnar-cache.ts); failures return as
// values (engine-errors.ts), never as thrown objects.
import { DurableObject } from "cloudflare:workers";
import { MIGRATIONS } from "../../../migrations/query/index";
import { lakehouseConfig } from "../../../shared/lakehouse-config";
import { applyMigrations } from "../../../shared/migrations";
import type { Manifest } from "../../../shared/types";
import { asEngineError, timeoutError } from "./engine-errors";
import { DatasetLoads } from "./engine-loads";
import { HeldTables } from "./engine-tables";
import type {
  CachedTable,
  DatasetRef,
  EngineAnswer,
  EngineContext,
  EngineQuery,
  EngineStats,
  LoadOptions,
  TableRow,
} from "./engine-types";
import { resolveDatasets } from "./guard";
import { runStatement } from "./run-statement";

const MiB = 1024 * 1024;

export class QueryEngine extends DurableObject<Env> {
  /** what this replica holds, and who reads, pins or loads it */
  private readonly held: HeldTables;
  private readonly loads: DatasetLoads;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.held = new HeldTables(ctx.storage);
    this.loads = new DatasetLoads(this.held, ctx.storage, env, (promise) => ctx.waitUntil(promise));
    void ctx.blockConcurrencyWhile(async () => {
      applyMigrations(ctx.storage, MIGRATIONS);
      this.held.repair();
    });
  }

  /** The cache budget in bytes: the caller's, else [queryd].local_cache_mb of this engine's config. */
  private budget(override?: number): number {
    if (override !== undefined && Number.isFinite(override) && override > 0) return override;
    return lakehouseConfig(this.env).queryd.local_cache_mb * MiB;
  }

  /** What a statement's run needs of this object: its SQLite, its id (the columnar cache's key), what it holds now. */
  private statementEngine(): EngineContext {
    return {
      sql: this.ctx.storage.sql,
      engine: this.ctx.id.toString(),
      held: () => this.held.all().values(),
    };
  }

  /** Runs one checked read-only statement (the Worker ran the guard). */
  async query(q: EngineQuery): Promise<EngineAnswer> {
    const deadline = Date.now() + q.timeout_ms;
    let resolved: Map<string, DatasetRef>;
    try {
      this.held.dropDeleted(q.datasets);
      resolved = resolveDatasets(q.tables, q.datasets);
    } catch (err) {
      return { ok: false, error: asEngineError(err, "internal", 500) };
    }
    // the datasets this query reads are pinned until it answers: no eviction takes them meanwhile
    const names = [...new Set([...resolved.values()].map((d) => d.name))];
    this.held.pin(names);
    try {
      return await this.run(q, resolved, names, deadline);
    } finally {
      this.held.unpin(names);
    }
  }

  private async run(
    q: EngineQuery,
    resolved: Map<string, DatasetRef>,
    names: string[],
    deadline: number,
  ): Promise<EngineAnswer> {
    const loaded: string[] = [];
    try {
      // only the datasets this statement reads are loaded; one that cannot be loaded fails this query alone
      const opts: LoadOptions = {
        protect: new Set(names),
        budget: this.budget(q.local_cache_bytes),
        mergeWaitMs: Math.floor(q.timeout_ms / 2),
      };
      for (const ref of new Set(resolved.values())) {
        if (await this.loads.ensure(ref.name, ref.version, opts)) loaded.push(ref.name);
      }
    } catch (err) {
      return { ok: false, error: asEngineError(err, "internal", 500) };
    }
    if (Date.now() > deadline) return { ok: false, error: timeoutError(q.timeout_ms) };
    // From this snapshot to the last row, the tables read are registered as read (no await in between):
    // an append's merge into one of them waits until this query is done.
    const tables = this.held.all();
    const byRef = new Map<string, TableRow>();
    for (const [written, ref] of resolved) {
      const t = tables.get(ref.name);
      if (!t)
        return {
          ok: false,
          error: { code: "bad_request", message: `no such table: ${written}`, status: 400 },
        };
      byRef.set(written, t);
    }
    const reading = this.held.acquire([...byRef.values()].map((t) => t.physical));
    try {
      this.held.touch(new Set(byRef.values()));
      return await runStatement(this.statementEngine(), q, byRef, loaded, deadline);
    } finally {
      this.held.release(reading);
    }
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
    const current = this.held.all().get(name);
    if (version === null) {
      if (current) this.held.drop(name);
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
      await this.loads.ensure(name, version, opts);
    } catch (err) {
      // an unloadable dataset must not fail the catalog's change: queries that read it say why
      if (current) this.held.drop(name);
      return {
        dropped: !!current,
        loaded: false,
        error: asEngineError(err, "internal", 500).message,
      };
    }
    const now = this.held.all().get(name);
    const load = now?.last_load === "incremental" ? "incremental" : "full";
    return { dropped: !!current && now?.physical !== current.physical, loaded: true, load };
  }

  /** What this replica holds. */
  async cached(): Promise<CachedTable[]> {
    return [...this.held.all().values()].map((t) => this.held.describe(t));
  }

  /** What this replica holds, its budget, and what its loads did since it started. */
  async stats(cacheBytes?: number): Promise<EngineStats> {
    const tables = [...this.held.all().values()].map((t) => this.held.describe(t));
    return {
      budget_bytes: this.budget(cacheBytes),
      bytes: tables.reduce((n, t) => n + t.bytes, 0),
      tables,
      loads: this.loads.counts(),
      evictions: this.held.evictions,
    };
  }
}
