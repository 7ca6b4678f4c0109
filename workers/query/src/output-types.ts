// A result column's declared type from its expression in the select list, for both engines
// (the columnar path and SQLite answer one statement, so they type it alike). SQLite reports
// no declared type for a result column; the rule kept here: a type comes from what the column
// computes, never from what it is called (`SELECT sum(flag) AS flag` is a BIGINT, not a
// BOOLEAN). Guarded by workers/query/test/columnar-exact.test.ts ("types a result column from
// its expression") on both engines.

import type { SqlType } from "./result";
import { type Token, tokenize } from "./sql-tokenizer";
import type { TableRef } from "./statement-tables";

/**
 * Per output column of `sql`: its declared type when its expression names one — `[t.]col` and
 * `min(col)` / `max(col)` take the column's type, `count(...)` is BIGINT; null when the
 * expression has no declared type (typed from its values); undefined when the column is not a
 * dataset's (a CTE's or a subquery's: the caller types it by name). The whole answer is null when
 * the outer select list is not one this reader follows (`*`, a compound SELECT, WITH, VALUES).
 * `columnsOf(name)`: the columns (lower-case name → type) of a table the statement names, as written.
 */
export function expressionTypes(
  sql: string,
  tables: TableRef[],
  columnsOf: (table: string) => Map<string, SqlType> | undefined,
): (SqlType | null | undefined)[] | null {
  let toks: Token[];
  try {
    toks = tokenize(sql).filter((t) => t.text !== ";");
  } catch {
    return null;
  }
  const word = (t: Token | undefined) => (t && t.kind === "word" ? t.value.toLowerCase() : "");
  if (word(toks[0]) !== "select") return null;
  let i = 1;
  if (word(toks[i]) === "distinct" || word(toks[i]) === "all") i++;
  // the select items, split at depth-0 commas up to FROM; a compound SELECT anywhere at depth 0 is not ours
  const items: Token[][] = [[]];
  let depth = 0;
  let inList = true;
  for (; i < toks.length; i++) {
    const t = toks[i]!;
    if (t.text === "(") depth++;
    else if (t.text === ")") depth--;
    if (depth === 0 && ["union", "intersect", "except"].includes(word(t))) return null;
    if (!inList) continue;
    if (depth === 0 && word(t) === "from") {
      inList = false;
      continue;
    }
    if (depth === 0 && t.text === ",") items.push([]);
    else items[items.length - 1]!.push(t);
  }
  const isName = (t: Token | undefined) => !!t && (t.kind === "word" || t.kind === "quoted");
  const columnType = (qual: string | null, name: string): SqlType | undefined => {
    const lower = name.toLowerCase();
    const candidates =
      qual === null
        ? tables
        : tables.filter((r) => (r.alias ?? r.name).toLowerCase() === qual.toLowerCase());
    const types = new Set<SqlType>();
    for (const r of candidates) {
      const t = columnsOf(r.name)?.get(lower);
      if (t) types.add(t);
    }
    return types.size === 1 ? [...types][0] : undefined;
  };
  /** `[t.]col` spanning all of `e`, as [qualifier, name], or null */
  const colRef = (e: Token[]): [string | null, string] | null => {
    if (e.length === 1 && isName(e[0])) return [null, e[0]!.value];
    if (e.length === 3 && isName(e[0]) && e[1]!.text === "." && isName(e[2]))
      return [e[0]!.value, e[2]!.value];
    return null;
  };
  const out: (SqlType | null | undefined)[] = [];
  for (const item of items) {
    if (
      item.length === 0 ||
      item.some((t, k) => t.text === "*" && (k === 0 || item[k - 1]!.text === "."))
    )
      return null;
    // drop an alias: `expr AS name`, or `expr name` after a name, a literal or `)`
    let e = item;
    const last = item[item.length - 1];
    const before = item[item.length - 2];
    if (word(before) === "as" && isName(last)) e = item.slice(0, -2);
    else if (
      item.length >= 2 &&
      isName(last) &&
      before &&
      (isName(before) ||
        before.text === ")" ||
        before.kind === "number" ||
        before.kind === "string")
    ) {
      e = item.slice(0, -1);
    }
    const ref = colRef(e);
    if (ref) {
      out.push(columnType(...ref));
      continue;
    }
    const fn = word(e[0]);
    if (e.length >= 3 && e[1]!.text === "(" && e[e.length - 1]!.text === ")") {
      const args = e.slice(2, -1);
      if (fn === "count") {
        out.push("BIGINT");
        continue;
      }
      const arg = colRef(args);
      if ((fn === "min" || fn === "max") && arg) {
        // min(x) / max(x) of one column is one of its values (a CTE's column: typed by name)
        out.push(columnType(...arg));
        continue;
      }
    }
    out.push(null);
  }
  return out;
}
