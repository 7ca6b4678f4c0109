// Running one checked read-only statement over the datasets a query reads (their tables already
// held and registered as read by the engine): the columnar fast path first when it can answer,
// else SQLite — the statement rewritten onto the physical tables, refused up front when its
// nested loops multiply past [queryd].max_join_rows (join-budget.ts), then stepped row by row.
// Rules: the answer stays within max_rows and max_result_bytes as its rows come off the cursor
// (never built whole first); the deadline is checked between rows (a yield each time, so the clock
// moves); integers past ±2^53 come back exact as text when asked (the CSV form); physical table
// names never reach the caller (EXPLAIN rows and error messages name the datasets).
import type { SchemaField } from "../../../shared/types";
import { tryColumnar } from "./columnar-cache";
import { asEngineError, resultTooLarge, timeoutError } from "./engine-errors";
import {
  type EngineAnswer,
  type EngineContext,
  type EngineError,
  type EngineQuery,
  PHYSICAL,
  type TableRow,
  tick,
} from "./engine-types";
import { checkReadOnly } from "./guard";
import { checkJoinBudget, type PlanStep, type SourceFacts } from "./join-budget";
import { quoteIdent, SQL_TYPE } from "./loader";
import { expressionTypes } from "./output-types";
import {
  boundRows,
  envelopeBytes,
  finishRows,
  rowBytes,
  type SqlType,
  typeColumns,
} from "./result";
import type { TableRef } from "./statement-tables";

const YIELD_EVERY_ROWS = 2000;
const YIELD_EVERY_READ = 200_000;
/** Average rows per key of a dataset column (the join estimate's equality lookups), by replica|table|version|rows|columns. */
const ROWS_PER_KEY = new Map<string, number>();

/** The statement with each dataset reference replaced by its physical table (aliased to the name as written). */
function rewrite(sqlText: string, refs: TableRef[], physical: Map<string, TableRow>): string {
  let out = sqlText;
  for (const ref of [...refs].sort((x, y) => y.from - x.from)) {
    const t = physical.get(ref.name)!;
    const replacement = ref.aliased
      ? quoteIdent(t.physical)
      : `${quoteIdent(t.physical)} AS ${quoteIdent(ref.name)}`;
    out = out.slice(0, ref.from) + replacement + out.slice(ref.to);
  }
  return out;
}

/**
 * Average rows per distinct value of `columns` in a dataset table (rows / distinct non-NULL keys):
 * what one equality lookup into it returns. One GROUP-free distinct count per table version and
 * key, cached in the isolate; undefined when the columns are not the table's.
 */
function rowsPerKey(cx: EngineContext, t: TableRow, columns: string[]): number | undefined {
  const known = new Set((JSON.parse(t.schema) as SchemaField[]).map((f) => f.name));
  if (!columns.every((c) => known.has(c))) return undefined;
  const key = `${cx.engine}|${t.physical}|${t.version}|${t.row_count}|${columns.join("\u0000")}`;
  const hit = ROWS_PER_KEY.get(key);
  if (hit !== undefined) return hit;
  const cols = columns.map(quoteIdent).join(", ");
  const notNull = columns.map((c) => `${quoteIdent(c)} IS NOT NULL`).join(" AND ");
  let d: number;
  try {
    d = cx.sql
      .exec<{ d: number }>(
        `SELECT count(*) AS d FROM (SELECT DISTINCT ${cols} FROM ${quoteIdent(t.physical)} WHERE ${notNull})`,
      )
      .one().d;
  } catch {
    return undefined; // not countable: the lookup counts 1 row, as before
  }
  const avg = d > 0 ? t.row_count / d : 1;
  if (ROWS_PER_KEY.size >= 1000) ROWS_PER_KEY.delete(ROWS_PER_KEY.keys().next().value!);
  ROWS_PER_KEY.set(key, avg);
  return avg;
}

/** Refuses (400 query_too_large) a plan whose nested loops multiply past the budget (join-budget.ts). */
function refuseJoins(
  sql: SqlStorage,
  sqlText: string,
  params: (string | number | null)[],
  facts: SourceFacts,
  budget: number,
): void {
  let plan: PlanStep[];
  try {
    plan = sql
      .exec<{ id: number; parent: number; detail: string }>(
        `EXPLAIN QUERY PLAN ${sqlText}`,
        ...params,
      )
      .toArray();
  } catch {
    return; // the statement itself will report the error
  }
  checkJoinBudget(plan, facts, budget);
}

/** Runs the statement over `byRef` (written name → held table) and answers it, or says why not. */
export async function runStatement(
  cx: EngineContext,
  q: EngineQuery,
  byRef: Map<string, TableRow>,
  loaded: string[],
  deadline: number,
): Promise<EngineAnswer> {
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
    return (
      t &&
      new Map(
        (JSON.parse(t.schema) as SchemaField[]).map((f) => [
          f.name.toLowerCase(),
          SQL_TYPE[f.type] as SqlType,
        ]),
      )
    );
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
      const fast = await tryColumnar(cx, q.sql, byRef, q.columnar_cache_bytes, deadline);
      if (fast === "timeout") return { ok: false, error: timeoutError(q.timeout_ms) };
      if (fast) {
        const bounded = boundRows(
          fast.names,
          fast.rows,
          q.max_rows,
          q.max_result_bytes ?? Number.POSITIVE_INFINITY,
        );
        if ("tooLarge" in bounded)
          return { ok: false, error: resultTooLarge(bounded.maxBytes, bounded.tooLarge) };
        const { rows, truncatedBy } = bounded;
        const columns = typeColumns(fast.names, rows, declaredFor(fast.names));
        finishRows(columns, rows);
        const result = {
          columns,
          rows,
          row_count: rows.length,
          truncated: truncatedBy !== undefined,
          ...(truncatedBy ? { truncated_by: truncatedBy } : {}),
        };
        return { ok: true, result, loaded, engine: "columnar" };
      }
    } catch (err) {
      // a fault of the fast path must not fail the query: SQLite answers it (and the fault is logged)
      console.error(
        `sql: the columnar path failed, SQLite answers instead: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
      );
    }
  }
  const text = rewrite(q.sql, q.tables, byRef);
  try {
    // scans are named by physical table, by alias, or by the dataset name as written (the alias the rewrite adds)
    const rowsByName = new Map<string, { name: string; rows: number }>();
    const tableByName = new Map<string, TableRow[]>();
    const note = (key: string, t: TableRow) => {
      const k = key.toLowerCase();
      const prev = rowsByName.get(k);
      if (!prev || prev.rows < t.row_count) rowsByName.set(k, { name: t.name, rows: t.row_count });
      tableByName.set(k, [...(tableByName.get(k) ?? []), t]);
    };
    for (const ref of q.tables) {
      const t = byRef.get(ref.name)!;
      note(t.physical, t);
      note(ref.alias ?? ref.name, t);
    }
    // CTEs and FROM subqueries count too, with what their bodies say (the guard reads them again here)
    const shape = checkReadOnly(q.sql);
    const perKey = (name: string, columns: string[]): number | undefined => {
      let most: number | undefined;
      for (const t of tableByName.get(name) ?? []) {
        const avg = rowsPerKey(cx, t, columns);
        if (avg !== undefined) most = Math.max(most ?? 0, avg);
      }
      return most;
    };
    const facts = {
      tables: rowsByName,
      derived: shape.derived,
      cteRefs: shape.cteRefs,
      recursive: shape.recursive,
      perKey,
    };
    refuseJoins(cx.sql, text, q.params, facts, q.max_join_rows);
  } catch (err) {
    return { ok: false, error: asEngineError(err, "internal", 500) };
  }
  try {
    let read = await readRows(cx.sql, text, q, deadline);
    if ("error" in read) return { ok: false, error: read.error };
    // DO SQLite hands int64 values to JavaScript as doubles: one past ±2^53 arrived rounded. The CSV
    // form writes integers exactly, so the statement runs once more with those columns as exact text.
    if (q.exact_integers && read.unsafe.size > 0 && q.kind !== "explain") {
      const unsafe = read.unsafe;
      const cols = read.names.map((_, i) =>
        unsafe.has(i)
          ? `CASE WHEN typeof(c${i}) = 'integer' THEN CAST(c${i} AS TEXT) ELSE c${i} END`
          : `c${i}`,
      );
      const exact = `WITH "_lh_exact"(${read.names.map((_, i) => `c${i}`).join(", ")}) AS (${text}) SELECT ${cols.join(", ")} FROM "_lh_exact"`;
      const again = await readRows(cx.sql, exact, q, deadline);
      if ("error" in again) return { ok: false, error: again.error };
      read = { ...again, names: read.names };
    }
    const { names, rows, truncatedBy } = read;
    const columns = typeColumns(names, rows, declaredFor(names));
    finishRows(columns, rows);
    if (q.kind === "explain") {
      for (const row of rows)
        for (let i = 0; i < row.length; i++)
          if (typeof row[i] === "string") row[i] = unphysical(row[i] as string);
    }
    const result = {
      columns,
      rows,
      row_count: rows.length,
      truncated: truncatedBy !== undefined,
      ...(truncatedBy ? { truncated_by: truncatedBy } : {}),
    };
    return { ok: true, result, loaded, engine: "sqlite" };
  } catch (err) {
    const message = unphysical(
      (err instanceof Error ? err.message : String(err)).replace(/: SQLITE_[A-Z_]+$/, ""),
    );
    return { ok: false, error: { code: "bad_request", message, status: 400 } };
  }
}

/**
 * Steps a statement's rows within the answer's bounds, counting them as they come off the cursor:
 * at most q.max_rows rows and q.max_result_bytes bytes (result.ts rowBytes), so no answer is ever
 * built whole before it is checked; the deadline is checked as it goes. `unsafe`: the columns
 * holding an integer past ±2^53 (rounded by the runtime).
 */
async function readRows(
  sql: SqlStorage,
  text: string,
  q: EngineQuery,
  deadline: number,
): Promise<
  | {
      names: string[];
      rows: unknown[][];
      truncatedBy?: "max_rows" | "max_result_bytes";
      unsafe: Set<number>;
    }
  | { error: EngineError }
> {
  const cursor = sql.exec(text, ...q.params);
  const names = cursor.columnNames;
  const rows: unknown[][] = [];
  const unsafe = new Set<number>();
  const maxBytes = q.max_result_bytes ?? Number.POSITIVE_INFINITY;
  let bytes = envelopeBytes(names);
  let truncatedBy: "max_rows" | "max_result_bytes" | undefined;
  // Cooperative time limit: between rows, after a batch of rows or a lot of rows read,
  // yield (so other queries on this replica run and the clock moves) and check the deadline.
  // (The clock does not move while JavaScript runs without I/O, so each check is a yield.)
  let sinceYield = 0;
  let readAtYield = 0;
  for (const row of cursor.raw()) {
    if (rows.length >= q.max_rows) {
      truncatedBy = "max_rows";
      break;
    }
    const size = rowBytes(row);
    if (bytes + size > maxBytes) {
      if (rows.length === 0) return { error: resultTooLarge(maxBytes, size) };
      truncatedBy = "max_result_bytes";
      break;
    }
    bytes += size;
    for (let i = 0; i < row.length; i++) {
      const v = row[i];
      if (typeof v === "number" && !Number.isSafeInteger(v) && Number.isInteger(v)) unsafe.add(i);
    }
    rows.push(row);
    if (++sinceYield >= YIELD_EVERY_ROWS || cursor.rowsRead - readAtYield >= YIELD_EVERY_READ) {
      await tick();
      if (Date.now() > deadline) return { error: timeoutError(q.timeout_ms) };
      sinceYield = 0;
      readAtYield = cursor.rowsRead;
    }
  }
  if (Date.now() > deadline) return { error: timeoutError(q.timeout_ms) };
  return { names, rows, truncatedBy, unsafe };
}
