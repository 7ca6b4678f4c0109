// What "the same answer" means for the differential SQL fuzzer (docs/sql.md, "The differential
// fuzzer"): the same error (code and message), or the same columns (names and types) and rows —
// integers, text, booleans and NULLs exactly; every float exactly too except the outputs of
// sum() and avg(), which may differ by 1e-12 of the larger magnitude (their summation order may
// differ); -0 equals 0 (JSON has one zero). Rows are compared in order when the ORDER BY fixes it,
// in runs of equal ORDER BY outputs when it fixes only those, else as multisets.
import type { EngineAnswer } from "../src/engine-types";
import type { Statement } from "./fuzz-sql-query";

export const FLOAT_TOLERANCE = 1e-12;

function sameValue(a: unknown, b: unknown, tolerant: boolean): boolean {
  if (a === b) return true; // -0 === 0
  if (typeof a === "number" && typeof b === "number") {
    if (Number.isNaN(a) && Number.isNaN(b)) return true;
    if (!tolerant || !Number.isFinite(a) || !Number.isFinite(b)) return false;
    return Math.abs(a - b) <= FLOAT_TOLERANCE * Math.max(Math.abs(a), Math.abs(b));
  }
  return false;
}

function sameRow(a: unknown[], b: unknown[], st: Statement): boolean {
  if (a.length !== b.length) return false;
  for (let c = 0; c < a.length; c++) {
    const agg = st.aggs[c];
    if (!sameValue(a[c], b[c], agg === "sum" || agg === "avg")) return false;
  }
  return true;
}

/** A canonical text of a value for sorting rows before a multiset comparison. */
function sortText(v: unknown): string {
  if (v === null || v === undefined) return "0";
  if (typeof v === "number") return `1${v === 0 ? 0 : v.toPrecision(10)}`;
  if (typeof v === "boolean") return `2${v}`;
  return `3${String(v)}`;
}

function sameMultiset(a: unknown[][], b: unknown[][], st: Statement): boolean {
  if (a.length !== b.length) return false;
  const key = (r: unknown[]) => r.map(sortText).join("\u0000");
  const sa = [...a].sort((x, y) => (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : 0));
  const sb = [...b].sort((x, y) => (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : 0));
  return sa.every((r, n) => sameRow(r, sb[n]!, st));
}

function runs(rows: unknown[][], outs: number[], st: Statement): unknown[][][] {
  const out: unknown[][][] = [];
  for (const row of rows) {
    const last = out[out.length - 1];
    const head = last?.[0];
    if (
      head &&
      outs.every((o) => sameValue(head[o], row[o], st.aggs[o] === "sum" || st.aggs[o] === "avg"))
    )
      last!.push(row);
    else out.push([row]);
  }
  return out;
}

/** null when the answers are the same; otherwise what differs. */
export function answerDifference(
  sqlite: EngineAnswer,
  columnar: EngineAnswer,
  st: Statement,
): string | null {
  if (!sqlite.ok || !columnar.ok) {
    if (!sqlite.ok && !columnar.ok) {
      return sqlite.error.code === columnar.error.code &&
        sqlite.error.message === columnar.error.message
        ? null
        : "different errors";
    }
    return "one answered, the other failed";
  }
  const a = sqlite.result;
  const b = columnar.result;
  if (a.columns.length !== b.columns.length) return "different column counts";
  for (let c = 0; c < a.columns.length; c++) {
    const ca = a.columns[c]!;
    const cb = b.columns[c]!;
    if (ca.name !== cb.name)
      return `column ${c + 1}: names ${JSON.stringify(ca.name)} vs ${JSON.stringify(cb.name)}`;
    if (ca.type !== cb.type) {
      // a whole-number sum or average on one side and a near one on the other: BIGINT vs DOUBLE by the values alone
      const agg = st.aggs[c];
      const numeric = (t: string) => t === "BIGINT" || t === "DOUBLE";
      if (!((agg === "sum" || agg === "avg") && numeric(ca.type) && numeric(cb.type)))
        return `column ${c + 1} (${ca.name}): types ${ca.type} vs ${cb.type}`;
    }
  }
  if (a.truncated !== b.truncated) return "truncated differs";
  if (a.rows.length !== b.rows.length) return `row counts ${a.rows.length} vs ${b.rows.length}`;
  if (st.order === "sequence") {
    for (let r = 0; r < a.rows.length; r++)
      if (!sameRow(a.rows[r]!, b.rows[r]!, st)) return `row ${r + 1} differs`;
    return null;
  }
  if (st.order === "runs") {
    const ra = runs(a.rows, st.orderOutputs, st);
    const rb = runs(b.rows, st.orderOutputs, st);
    if (ra.length !== rb.length) return "the rows are ordered differently";
    for (let n = 0; n < ra.length; n++)
      if (!sameMultiset(ra[n]!, rb[n]!, st))
        return `rows differ among those ordered ${n + 1}${n ? "th" : "st"}`;
    return null;
  }
  return sameMultiset(a.rows, b.rows, st) ? null : "the rows differ (as multisets)";
}

/**
 * What every answer must satisfy whoever computed it: count() is a BIGINT integer; sum() and
 * avg() are numbers or NULL, typed BIGINT or DOUBLE (VARCHAR when every value is NULL, as
 * documented) — by the expression, never by an output name that happens to be a column's.
 * null when it holds.
 */
export function typingFault(answer: EngineAnswer, st: Statement): string | null {
  if (!answer.ok) return null;
  for (let c = 0; c < st.aggs.length; c++) {
    const agg = st.aggs[c];
    if (!agg || agg === "min" || agg === "max") continue;
    const col = answer.result.columns[c]!;
    // a column with no values at all (no rows, or only NULLs) is VARCHAR by the documented rule (docs/sql.md, Types)
    const empty = answer.result.rows.every((row) => row[c] === null);
    if (empty && col.type === "VARCHAR") continue;
    if (agg === "count" && col.type !== "BIGINT")
      return `column ${c + 1} (${col.name}, a count) is typed ${col.type}`;
    if (agg !== "count" && col.type !== "BIGINT" && col.type !== "DOUBLE")
      return `column ${c + 1} (${col.name}, ${agg}()) is typed ${col.type}`;
    for (const row of answer.result.rows) {
      const v = row[c];
      if (agg === "count" ? !Number.isInteger(v) : v !== null && typeof v !== "number")
        return `column ${c + 1} (${col.name}, ${agg}()) holds ${JSON.stringify(v)}`;
    }
  }
  return null;
}
