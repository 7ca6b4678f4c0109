// The QueryEngine's contract and its bookkeeping rows: what a query asks (EngineQuery), what it
// answers (EngineAnswer, EngineError), what a replica reports (CachedTable, EngineStats), the
// _lh_tables row (TableRow, TABLE_COLUMNS) every module of the engine reads, how physical tables
// are named (newPhysical, PHYSICAL), and tick(), the one yield they share. Rule: what crosses the
// Durable Object's RPC boundary is plain data (errors travel as values, never as thrown objects).
import type { Manifest } from "../../../shared/types";
import type { QueryResult } from "./result";
import type { TableRef } from "./statement-tables";

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
  /** the rows of the answer stay within this many bytes as JSON ([queryd].max_result_bytes), counted as they are produced */
  max_result_bytes?: number;
  /** integers outside ±2^53 come back as exact decimal text (the CSV form), not as rounded numbers */
  exact_integers?: boolean;
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
  | {
      ok: true;
      result: Omit<QueryResult, "elapsed_ms">;
      loaded: string[];
      engine: "columnar" | "sqlite";
    }
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

export interface TableRow extends Record<string, SqlStorageValue> {
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

/** What running a statement needs of the engine object (passed in, never reached for). */
export interface EngineContext {
  sql: SqlStorage;
  /** the engine's id: its columnar cache entries and join estimates are its own */
  engine: string;
  /** the tables the engine holds now (cache entries of any other version are dropped) */
  held: () => Iterable<TableRow>;
}

export const TABLE_COLUMNS =
  "name, physical, version, row_count, schema, load_ms, loaded_at, bytes, last_used_at, last_load, last_load_rows, loads_full, loads_incremental";

/** How one ensure() loads: the catalog's manifest when the caller has it, and the cache budget. */
export interface LoadOptions {
  manifest?: Manifest;
  /** datasets the eviction must keep (the ones the calling query reads) */
  protect: Set<string>;
  budget: number;
  /** longest an append's merge waits for running queries on the table before it copies it instead */
  mergeWaitMs: number;
}

/** Yields to the event loop: other queries on this replica run, and the clock moves (it does not while JavaScript runs without I/O). */
export const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

/** Every dataset lives in a physical table named like this (never the dataset's own name). */
export const PHYSICAL = /_lh_data_[0-9a-f]{32}/g;

export function newPhysical(): string {
  return `_lh_data_${crypto.randomUUID().replaceAll("-", "")}`;
}
