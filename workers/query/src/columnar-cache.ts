// The columnar fast path's cache and its run through it: typed columns and derived keys read from
// the engine's SQLite copy of a dataset, kept in one LRU keyed by
// `<engine>|<physical table>|<version>|<column>[|fx:<expr>]`, and the plan run over them.
// Rules: the cache is module-wide (every QueryEngine object in this isolate shares the isolate's
// memory), so [queryd].columnar_cache_mb bounds the total of all of them, least recently used
// going first; an entry belongs to one physical table AND version (an append merges into the same
// table, so a column read before it must not answer after it), and one whose version is no longer
// held goes after the next query of its engine; what one query needs beyond the budget is SQLite's.
import type { SchemaField } from "../../../shared/types";
import {
  type Column,
  type Derived,
  deriveDictionary,
  type FastPlan,
  planColumns,
  planDerived,
  planFast,
  readColumn,
  runFast,
  type Side,
} from "./columnar";
import { type EngineContext, type TableRow, tick } from "./engine-types";

/** One entry of the columnar cache: a column, or a derived key's map over a column's dictionary. */
type CacheEntry = {
  column?: Column;
  derived?: Derived;
  engine: string;
  owner: string;
  bytes: number;
};

/**
 * The columnar fast path's cache, by `<engine>|<physical table>|<version>|<column>[|fx:<expr>]`, least
 * recently used first. Module-wide: every QueryEngine object in this isolate shares the isolate's
 * memory, so [queryd].columnar_cache_mb bounds their total, not each one's.
 */
const COLUMN_CACHE = new Map<string, CacheEntry>();
/** A derived key (a function of a text column) is evaluated per distinct value only up to this many values. */
const MAX_DERIVED_VALUES = 1_000_000;
const columnCache = { bytes: 0 };

/** The fast path: a plan over one or two datasets' typed columns, or null (SQLite answers). */
export async function tryColumnar(
  cx: EngineContext,
  sqlText: string,
  byRef: Map<string, TableRow>,
  budget: number,
  deadline: number,
): Promise<{ names: string[]; rows: unknown[][] } | null | "timeout"> {
  const schemas = new Map<string, Map<string, string>>();
  for (const [written, t] of byRef) {
    schemas.set(
      written,
      new Map((JSON.parse(t.schema) as SchemaField[]).map((f) => [f.name.toLowerCase(), f.name])),
    );
  }
  const plan = planFast(sqlText, schemas);
  if (!plan) return null;
  try {
    return await runColumnar(cx, plan, byRef, budget, deadline);
  } finally {
    // keep the cache within its budget: least recently used first (this query's entries are the most recent)
    for (const [key, entry] of COLUMN_CACHE) {
      if (columnCache.bytes <= budget) break;
      COLUMN_CACHE.delete(key);
      columnCache.bytes -= entry.bytes;
    }
    const me = cx.engine;
    const live = new Set([...cx.held()].map((t) => `${t.physical}|${t.version}`));
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
async function runColumnar(
  cx: EngineContext,
  plan: FastPlan,
  byRef: Map<string, TableRow>,
  budget: number,
  deadline: number,
): Promise<{ names: string[]; rows: unknown[][] } | null | "timeout"> {
  const me = cx.engine;
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
        const numeric =
          type === "int64" || type === "bool" ? "integer" : type === "float64" ? "real" : false;
        const c = readColumn(cx.sql, table.physical, name, numeric, table.row_count, budget - mine);
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
        d = deriveDictionary(cx.sql, k.fx!, col.dict);
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
