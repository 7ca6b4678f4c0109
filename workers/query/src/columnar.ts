// The columnar fast path: filter / aggregate / GROUP BY / top-N queries over one dataset, or
// over a dataset joined to another by one equality, answered from typed arrays (numbers:
// Int32Array or Float64Array + null bitmap; text: dictionary codes, 8, 16 or 32 bits)
// instead of SQLite's row b-trees. Only the columns a query names are read (from the
// engine's own SQLite copy, once per dataset version, then cached within a byte budget).
// Anything outside the grammar below returns null and SQLite answers instead, so results
// are SQLite's: NULLs, integer vs real, binary text order (ASCII only here; other text falls
// back), NULLs first in ascending order.
//
//   SELECT item, ... FROM <t> [[AS] a] [[INNER] JOIN <u> [[AS] b] ON x.c = y.d]
//     [WHERE cond AND ...] [GROUP BY key, ...] [HAVING agg op number AND ...]
//     [ORDER BY out|key [ASC|DESC] [NULLS FIRST|LAST], ...] [LIMIT n [OFFSET m]]
//   item: key | count(*) | count([DISTINCT] key) | sum(key) | avg(key) | min(key) | max(key), [AS alias]
//   key:  [t.]col | fn(..., key, ...) — a function of ONE text column (substr, strftime, date, upper, ...),
//         evaluated by SQLite itself once per distinct value of the column (its dictionary), so
//         `substr(date, 1, 7)` or `strftime('%Y-%m', ts)` groups 3M rows through a code → code map
//   cond: [t.]col op literal | [t.]col IS [NOT] NULL
// Without aggregates and GROUP BY, `ORDER BY … LIMIT n` (n + offset ≤ 10000) is a top-N scan.
// A join probes the larger table's rows against a hash of the smaller one's keys (per
// dictionary code when the key is text: one map lookup per distinct value, not per row).
//
// Files: columnar-plan.ts (parser/planner), columnar-reader.ts (its token cursor and
// expression reader), columnar-read.ts (columns from SQLite),
// columnar-kernels.ts (filters, aggregates), columnar-join.ts (scan, hash join),
// columnar-aggregate.ts (GROUP BY, HAVING, ORDER BY), columnar-top.ts (top-N),
// columnar-types.ts (plan and column types, SQLite's value order).
// Kept equal to SQLite by the differential tests that run each query on both engines
// (workers/query/test/query.test.ts "the columnar fast path answers exactly like SQLite",
// workers/query/test/columnar-exact.test.ts) and the fuzz suite over the same path.
import { runAggregate } from "./columnar-aggregate";
import { runTop } from "./columnar-top";
import { Bail, type Derived, type FastPlan, NotFast, type Side } from "./columnar-types";

export { planColumns, planDerived, planFast } from "./columnar-plan";
export { deriveDictionary, readColumn } from "./columnar-read";
export type { Column, Derived, FastPlan, Side } from "./columnar-types";

/**
 * Runs a plan over the columns it needs (`sides[k].cols`: declared name → column; `derived`:
 * KeyExpr.id → its dictionary map). Returns the output column names and rows, or null when
 * the data needs SQLite after all. `joinBytes`: the memory a join's hash table may take (what the
 * columnar budget leaves after the columns); a join that needs more is SQLite's.
 */
export function runFast(
  plan: FastPlan,
  sides: Side[],
  derived: Map<string, Derived>,
  joinBytes = Infinity,
): { names: string[]; rows: unknown[][] } | null {
  try {
    return plan.mode === "rows"
      ? runTop(plan, sides, derived)
      : runAggregate(plan, sides, derived, joinBytes);
  } catch (err) {
    if (err instanceof Bail || err instanceof NotFast) return null;
    throw err;
  }
}
