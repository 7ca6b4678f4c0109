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
  /** lower-cased identifiers named by the statement (from the guard) */
  identifiers: string[];
  /** every dataset in the catalog right now, with its current version */
  datasets: DatasetRef[];
  request_id?: string;
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
const YIELD_EVERY_READ = 200_000;

export function timeoutError(ms: number): EngineError {
  return {
    code: "query_timeout",
    message: `sql: the query ran longer than ${ms} ms ([queryd].timeout_ms or the request's timeout_ms) and was stopped`,
    status: 400,
  };
}

export class QueryEngine extends DurableObject<Env> {
  /** loads in flight, by dataset name: concurrent queries wait for the same load */
  private readonly loading = new Map<string, Promise<void>>();
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
      this.ctx.storage.sql.exec(`DROP VIEW IF EXISTS ${quoteIdent(name)}`);
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
    const load = this.load(name, version, manifest).finally(() => this.loading.delete(name));
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
      const message = err instanceof Error ? err.message : String(err);
      if (err instanceof LakehouseError) throw err;
      throw new LakehouseError("internal", `loading dataset ${name} version ${version} failed: ${message}`);
    }
    const loadMs = Date.now() - started;
    const previous = this.tables().get(name);
    this.ctx.storage.transactionSync(() => {
      const sql = this.ctx.storage.sql;
      sql.exec(`DROP VIEW IF EXISTS ${quoteIdent(name)}`);
      sql.exec(`CREATE VIEW ${quoteIdent(name)} AS SELECT * FROM ${quoteIdent(stage)}`);
      sql.exec(
        "INSERT OR REPLACE INTO _lh_tables (name, physical, version, row_count, schema, load_ms, loaded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        name, stage, manifest.version, rows, JSON.stringify(manifest.schema), loadMs, new Date().toISOString(),
      );
      if (previous) sql.exec("INSERT OR IGNORE INTO _lh_garbage (physical) VALUES (?)", previous.physical);
    });
    this.collectGarbage();
  }

  /** Runs one checked read-only statement (the Worker ran the guard). */
  async query(q: EngineQuery): Promise<EngineAnswer> {
    const deadline = Date.now() + q.timeout_ms;
    const loaded: string[] = [];
    try {
      const catalog = new Map(q.datasets.map((d) => [d.name.toLowerCase(), d]));
      for (const [name] of this.tables()) {
        if (!catalog.has(name.toLowerCase())) this.drop(name); // deleted since: "no such table"
      }
      for (const id of q.identifiers) {
        const ref = catalog.get(id);
        if (ref && (await this.ensure(ref.name, ref.version))) loaded.push(ref.name);
      }
    } catch (err) {
      return { ok: false, error: asEngineError(err, "internal", 500) };
    }
    const tables = this.tables();
    const declared = new Map<string, SqlType>();
    const conflicting = new Set<string>();
    for (const id of q.identifiers) {
      const t = tables.get(id) ?? [...tables.values()].find((x) => x.name.toLowerCase() === id);
      if (!t) continue;
      for (const f of JSON.parse(t.schema) as SchemaField[]) {
        const key = f.name.toLowerCase();
        const type = SQL_TYPE[f.type] as SqlType;
        if (declared.has(key) && declared.get(key) !== type) conflicting.add(key);
        declared.set(key, type);
      }
    }
    for (const key of conflicting) declared.delete(key);
    if (q.columnar && q.params.length === 0) {
      const fast = this.tryColumnar(q.sql, tables, q.columnar_cache_bytes);
      if (fast) {
        let rows = fast.rows;
        const truncated = rows.length > q.max_rows;
        if (truncated) rows = rows.slice(0, q.max_rows);
        const columns = typeColumns(fast.names, rows, declared);
        finishRows(columns, rows);
        return { ok: true, result: { columns, rows, row_count: rows.length, truncated }, loaded, engine: "columnar" };
      }
    }
    try {
      const cursor = this.ctx.storage.sql.exec(q.sql, ...q.params);
      const names = cursor.columnNames;
      const rows: unknown[][] = [];
      let truncated = false;
      // Cooperative time limit: between rows, after a batch of rows or a lot of rows read,
      // yield (so other queries on this replica run and the clock moves) and check the deadline.
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
      return { ok: true, result: { columns, rows, row_count: rows.length, truncated }, loaded, engine: "sqlite" };
    } catch (err) {
      const message = (err instanceof Error ? err.message : String(err)).replace(/: SQLITE_[A-Z_]+$/, "");
      return { ok: false, error: { code: "bad_request", message, status: 400 } };
    }
  }

  /** The fast path: a plan over one dataset's typed columns, or null (SQLite answers). */
  private tryColumnar(sqlText: string, tables: Map<string, TableRow>, budget: number): { names: string[]; rows: unknown[][] } | null {
    const byName = new Map<string, TableRow>();
    const schemas = new Map<string, Map<string, string>>();
    for (const t of tables.values()) {
      byName.set(t.name.toLowerCase(), t);
      schemas.set(t.name.toLowerCase(), new Map((JSON.parse(t.schema) as SchemaField[]).map((f) => [f.name.toLowerCase(), f.name])));
    }
    const plan = planFast(sqlText, schemas);
    if (!plan) return null;
    const table = byName.get(plan.table.toLowerCase())!;
    const types = new Map((JSON.parse(table.schema) as SchemaField[]).map((f) => [f.name, f.type]));
    const needed = new Set<string>([...plan.where.map((w) => w.col), ...plan.groupBy, ...plan.aggs.flatMap((a) => (a.col ? [a.col] : []))]);
    const cols = new Map<string, Column>();
    for (const name of needed) {
      const key = `${table.physical}|${name}`;
      let col = this.columns.get(key);
      if (col) {
        this.columns.delete(key); // most recently used goes last
      } else {
        const type = types.get(name);
        const c = readColumn(this.ctx.storage.sql, table.physical, name, type === "int64" || type === "float64" || type === "bool", table.row_count);
        if (!c) return null;
        col = c;
        this.columnBytes += col.bytes;
      }
      this.columns.set(key, col);
      cols.set(name, col);
    }
    const answer = runFast(plan, cols, table.row_count);
    // keep the cache within its budget (columns of other tables or versions go first)
    for (const [key, col] of this.columns) {
      if (this.columnBytes <= budget) break;
      this.columns.delete(key);
      this.columnBytes -= col.bytes;
    }
    for (const [key, col] of this.columns) {
      if (!tables.has([...tables.values()].find((t) => key.startsWith(`${t.physical}|`))?.name ?? "")) {
        this.columns.delete(key); // a dropped version
        this.columnBytes -= col.bytes;
      }
    }
    return answer;
  }

  /** The catalog committed a change: drop the stale table, and load the new version when `warm`. */
  async changed(name: string, version: number | null, manifest: Manifest | null, warm: boolean): Promise<{ dropped: boolean; loaded: boolean }> {
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
    await this.ensure(name, version, manifest ?? undefined);
    return { dropped: !!current, loaded: true };
  }

  /** What this replica holds. */
  async cached(): Promise<CachedTable[]> {
    return [...this.tables().values()].map(({ name, version, row_count, load_ms, loaded_at }) => ({ name, version, row_count, load_ms, loaded_at }));
  }
}
