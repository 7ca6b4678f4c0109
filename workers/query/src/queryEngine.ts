// The QueryEngine Durable Object: one SQLite database in which every catalog dataset a
// query names is a table of the same name, loaded from its Parquet objects on first use
// (or when an ingest warms it) and kept durably per catalog version. A newer version is
// loaded into a staging table while queries keep reading the old one, then swapped in
// and the old table dropped, in one transaction.
import { DurableObject } from "cloudflare:workers";
import { MIGRATIONS } from "../../../migrations/query/index";
import { serviceClient } from "../../../shared/clients";
import { LakehouseError } from "../../../shared/errors";
import { applyMigrations } from "../../../shared/migrations";
import type { Manifest, SchemaField } from "../../../shared/types";
import { SQL_TYPE, loadDataset, quoteIdent } from "./loader";
import { finishRows, typeColumns, type QueryResult, type SqlType } from "./result";
import { planFast, readColumn, runFast, type Column } from "./columnar";
import type { TableRef } from "./guard";

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
  load_ms: number;
  loaded_at: string;
}

interface TableRow extends Record<string, SqlStorageValue> {
  name: string;
  physical: string;
  version: number;
  row_count: number;
  schema: string;
  load_ms: number;
  loaded_at: string;
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
  /** loads in flight, by dataset name: concurrent queries wait for the same load */
  private readonly loading = new Map<string, Promise<void>>();
  /** recent load failures by `name@version`: the error and when it happened */
  private readonly failed = new Map<string, { error: LakehouseError; at: number }>();
  /** typed columns for the fast path, by `<physical table>|<column>`, least recently used first */
  private readonly columns = new Map<string, Column>();
  private columnBytes = 0;

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
      this.collectGarbage();
    });
  }

  private tables(): Map<string, TableRow> {
    const rows = this.ctx.storage.sql.exec<TableRow>("SELECT name, physical, version, row_count, schema, load_ms, loaded_at FROM _lh_tables").toArray();
    return new Map(rows.map((r) => [r.name, r]));
  }

  /** Drops physical tables no longer in use; one still read by an abandoned cursor stays queued. */
  private collectGarbage(): void {
    const sql = this.ctx.storage.sql;
    for (const { physical } of sql.exec<{ physical: string }>("SELECT physical FROM _lh_garbage").toArray()) {
      try {
        sql.exec(`DROP TABLE IF EXISTS ${quoteIdent(physical)}`);
        sql.exec("DELETE FROM _lh_garbage WHERE physical = ?", physical);
      } catch {
        // SQLITE_LOCKED: a cursor left open (truncated or timed-out result) still reads it; retry later
      }
    }
  }

  private drop(name: string): void {
    const current = this.tables().get(name);
    this.ctx.storage.transactionSync(() => {
      this.ctx.storage.sql.exec("DELETE FROM _lh_tables WHERE name = ?", name);
      if (current) this.ctx.storage.sql.exec("INSERT OR IGNORE INTO _lh_garbage (physical) VALUES (?)", current.physical);
    });
    this.collectGarbage();
  }

  /** Makes sure `name` is loaded at `version` or newer (catalog versions of a name never repeat or go back). */
  private async ensure(name: string, version: number, manifest?: Manifest): Promise<boolean> {
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
    const load = this.load(name, version, manifest)
      .catch((err: unknown) => {
        const error = err instanceof LakehouseError ? err : unloadableError(name, version, err instanceof Error ? err.message : String(err));
        if (error.code === "dataset_unloadable") this.failed.set(key, { error, at: Date.now() });
        throw error;
      })
      .finally(() => this.loading.delete(name));
    this.loading.set(name, load);
    await load;
    return true;
  }

  private async load(name: string, version: number, given?: Manifest): Promise<void> {
    if (/^(_lh_|sqlite_|_cf_)/i.test(name)) {
      throw new LakehouseError("bad_request", `dataset name ${JSON.stringify(name)} is reserved by the query engine and cannot be queried`);
    }
    const manifest =
      given && given.version === version
        ? given
        : await serviceClient(this.env as never, "catalog").json<Manifest>(`/manifest/${encodeURIComponent(name)}?version=${version}`);
    const stage = `_lh_data_${crypto.randomUUID().replaceAll("-", "")}`;
    const started = Date.now();
    let rows: number;
    try {
      rows = (await loadDataset(this.ctx.storage.sql, this.env.LAKE, manifest, stage)).rows;
    } catch (err) {
      this.ctx.storage.sql.exec("INSERT OR IGNORE INTO _lh_garbage (physical) VALUES (?)", stage);
      this.collectGarbage();
      if (err instanceof LakehouseError) throw err;
      const message = (err instanceof Error ? err.message : String(err)).replace(/: SQLITE_[A-Z_]+$/, "").replace(PHYSICAL, name);
      throw unloadableError(name, version, message);
    }
    const loadMs = Date.now() - started;
    const previous = this.tables().get(name);
    this.ctx.storage.transactionSync(() => {
      const sql = this.ctx.storage.sql;
      sql.exec(
        "INSERT OR REPLACE INTO _lh_tables (name, physical, version, row_count, schema, load_ms, loaded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        name, stage, manifest.version, rows, JSON.stringify(manifest.schema), loadMs, new Date().toISOString(),
      );
      if (previous) sql.exec("INSERT OR IGNORE INTO _lh_garbage (physical) VALUES (?)", previous.physical);
    });
    this.collectGarbage();
  }

  /**
   * Resolves the statement's table references against the catalog: the exact name first, then
   * the one dataset whose name matches ignoring case; several such datasets → 400 (never another
   * dataset's rows). Unknown tables → 400 "no such table".
   */
  private resolve(refs: TableRef[], datasets: DatasetRef[]): Map<string, DatasetRef> {
    const exact = new Map(datasets.map((d) => [d.name, d]));
    const resolved = new Map<string, DatasetRef>();
    for (const ref of refs) {
      if (resolved.has(ref.name)) continue;
      let d = exact.get(ref.name);
      if (!d) {
        const lower = ref.name.toLowerCase();
        const candidates = datasets.filter((x) => x.name.toLowerCase() === lower);
        if (candidates.length > 1) {
          throw new LakehouseError(
            "ambiguous_table",
            `sql: table ${JSON.stringify(ref.name)} matches datasets ${candidates.map((c) => JSON.stringify(c.name)).join(", ")}, which differ only in case; write the exact name in double quotes`,
            { status: 400 },
          );
        }
        d = candidates[0];
      }
      if (!d) throw new LakehouseError("bad_request", `no such table: ${ref.name}`);
      resolved.set(ref.name, d);
    }
    return resolved;
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

  /** Runs one checked read-only statement (the Worker ran the guard). */
  async query(q: EngineQuery): Promise<EngineAnswer> {
    const deadline = Date.now() + q.timeout_ms;
    const loaded: string[] = [];
    let resolved: Map<string, DatasetRef>;
    try {
      const inCatalog = new Set(q.datasets.map((d) => d.name));
      for (const [name] of this.tables()) {
        if (!inCatalog.has(name)) this.drop(name); // deleted since: "no such table"
      }
      resolved = this.resolve(q.tables, q.datasets);
      // only the datasets this statement reads are loaded; one that cannot be loaded fails this query alone
      for (const ref of new Set(resolved.values())) {
        if (await this.ensure(ref.name, ref.version)) loaded.push(ref.name);
      }
    } catch (err) {
      return { ok: false, error: asEngineError(err, "internal", 500) };
    }
    if (Date.now() > deadline) return { ok: false, error: timeoutError(q.timeout_ms) };
    const tables = this.tables();
    const byRef = new Map<string, TableRow>();
    for (const [written, ref] of resolved) {
      const t = tables.get(ref.name);
      if (!t) return { ok: false, error: { code: "bad_request", message: `no such table: ${written}`, status: 400 } };
      byRef.set(written, t);
    }
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
    const toName = new Map([...byRef.values()].map((t) => [t.physical, t.name]));
    const unphysical = (text: string) => text.replace(PHYSICAL, (p) => toName.get(p) ?? "(internal)");
    if (q.columnar && q.params.length === 0 && q.tables.length === 1) {
      try {
        const fast = await this.tryColumnar(q.sql, byRef, tables, q.columnar_cache_bytes, deadline);
        if (fast === "timeout") return { ok: false, error: timeoutError(q.timeout_ms) };
        if (fast) {
          let rows = fast.rows;
          const truncated = rows.length > q.max_rows;
          if (truncated) rows = rows.slice(0, q.max_rows);
          const columns = typeColumns(fast.names, rows, declared);
          finishRows(columns, rows);
          return { ok: true, result: { columns, rows, row_count: rows.length, truncated }, loaded, engine: "columnar" };
        }
      } catch (err) {
        return { ok: false, error: asEngineError(err, "internal", 500) };
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
          await new Promise((resolve) => setTimeout(resolve, 0));
          if (Date.now() > deadline) return { ok: false, error: timeoutError(q.timeout_ms) };
          sinceYield = 0;
          readAtYield = cursor.rowsRead;
        }
      }
      if (Date.now() > deadline) return { ok: false, error: timeoutError(q.timeout_ms) };
      const columns = typeColumns(names, rows, declared);
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

  /** The fast path: a plan over one dataset's typed columns, or null (SQLite answers). */
  private async tryColumnar(
    sqlText: string,
    byRef: Map<string, TableRow>,
    tables: Map<string, TableRow>,
    budget: number,
    deadline: number,
  ): Promise<{ names: string[]; rows: unknown[][] } | null | "timeout"> {
    const schemas = new Map<string, Map<string, string>>();
    for (const [written, t] of byRef) {
      schemas.set(written, new Map((JSON.parse(t.schema) as SchemaField[]).map((f) => [f.name.toLowerCase(), f.name])));
    }
    const plan = planFast(sqlText, schemas);
    if (!plan) return null;
    const table = byRef.get(plan.table)!;
    const types = new Map((JSON.parse(table.schema) as SchemaField[]).map((f) => [f.name, f.type]));
    const needed = new Set<string>([...plan.where.map((w) => w.col), ...plan.groupBy, ...plan.aggs.flatMap((a) => (a.col ? [a.col] : []))]);
    const cols = new Map<string, Column>();
    for (const name of needed) {
      const key = `${table.physical}|${name}`;
      let col = this.columns.get(key);
      if (col) {
        this.columns.delete(key); // most recently used goes last
      } else {
        // reading a column is the slow part: yield first (other queries run, the clock moves) and check the deadline
        await new Promise((resolve) => setTimeout(resolve, 0));
        if (Date.now() > deadline) return "timeout";
        const type = types.get(name);
        const c = readColumn(this.ctx.storage.sql, table.physical, name, type === "int64" || type === "float64" || type === "bool", table.row_count);
        if (!c) return null;
        col = c;
        this.columnBytes += col.bytes;
      }
      this.columns.set(key, col);
      cols.set(name, col);
    }
    if (Date.now() > deadline) return "timeout";
    const answer = runFast(plan, cols, table.row_count);
    // keep the cache within its budget (columns of other tables or versions go first)
    for (const [key, col] of this.columns) {
      if (this.columnBytes <= budget) break;
      this.columns.delete(key);
      this.columnBytes -= col.bytes;
    }
    const live = new Set([...tables.values()].map((t) => t.physical));
    for (const [key, col] of this.columns) {
      if (!live.has(key.slice(0, key.indexOf("|")))) {
        this.columns.delete(key); // a dropped version
        this.columnBytes -= col.bytes;
      }
    }
    return answer;
  }

  /** The catalog committed a change: drop the stale table, and load the new version when `warm`. */
  async changed(name: string, version: number | null, manifest: Manifest | null, warm: boolean): Promise<{ dropped: boolean; loaded: boolean; error?: string }> {
    const current = this.tables().get(name);
    if (version === null) {
      if (current) this.drop(name);
      return { dropped: !!current, loaded: false };
    }
    if (current && current.version >= version) return { dropped: false, loaded: false };
    if (!warm) {
      if (current) this.drop(name);
      return { dropped: !!current, loaded: false };
    }
    try {
      await this.ensure(name, version, manifest ?? undefined);
    } catch (err) {
      // an unloadable dataset must not fail the catalog's change: queries that read it say why
      if (current) this.drop(name);
      return { dropped: !!current, loaded: false, error: asEngineError(err, "internal", 500).message };
    }
    return { dropped: !!current, loaded: true };
  }

  /** What this replica holds. */
  async cached(): Promise<CachedTable[]> {
    return [...this.tables().values()].map(({ name, version, row_count, load_ms, loaded_at }) => ({ name, version, row_count, load_ms, loaded_at }));
  }
}
