// The columnar fast path's top-N: ORDER BY ... LIMIT n (n + offset <= 10000) over rows
// without aggregates, keeping the best rows in a heap while scanning; ties keep scan order,
// as SQLite's sorter does for rowid-ordered scans.
// Kept equal to SQLite by the differential tests that run each query on both engines
// (workers/query/test/query.test.ts "the columnar fast path answers exactly like SQLite",
// workers/query/test/columnar-exact.test.ts) and the fuzz suite over the same path.
import { scan } from "./columnar-join";
import { scanKey, valueAt } from "./columnar-kernels";
import {
  asciiOrBail,
  type CodeArray,
  compareValues,
  type Derived,
  type FastPlan,
  type Side,
} from "./columnar-types";

/** ORDER BY … LIMIT n over rows (no aggregates): keeps the best n + offset rows while scanning. */
export function runTop(
  plan: FastPlan,
  sides: Side[],
  derived: Map<string, Derived>,
): { names: string[]; rows: unknown[][] } {
  const itemKeys = plan.items.map((it) => scanKey(it.key!, sides, derived));
  // each ORDER BY key as a number per row: numbers as they are, codes by the rank of their value
  interface Ranked {
    num: Float64Array | Int32Array | null;
    nulls: Uint8Array | null;
    codes: CodeArray | null;
    rank: Float64Array | null;
    sign: number;
    /** NULLs sort before every value (NULLS FIRST) or after (NULLS LAST), whatever the direction */
    nullsFirst: boolean;
  }
  const ranked: Ranked[] = plan.orderBy.map((o) => {
    const k = o.key ? scanKey(o.key, sides, derived) : itemKeys[o.out!]!;
    const sign = o.desc ? -1 : 1;
    const nullsFirst = o.nullsFirst;
    if (k.kind === "num")
      return { num: k.values, nulls: k.nulls, codes: null, rank: null, sign, nullsFirst };
    const codesCount = k.remap ? k.remap.length : k.values.length;
    const order = k.values.map((_, c) => c).filter((c) => k.values[c] !== null);
    for (const c of order) asciiOrBail(k.values[c]);
    order.sort((x, y) => compareValues(k.values[x], k.values[y]));
    const valueRank = new Float64Array(k.values.length).fill(NaN);
    for (const [r, c] of order.entries()) valueRank[c] = r;
    const rank = new Float64Array(codesCount);
    for (let c = 0; c < codesCount; c++) rank[c] = valueRank[k.remap ? k.remap[c]! : c]!; // NaN: NULL
    return { num: null, nulls: null, codes: k.codes, rank, sign, nullsFirst };
  });
  // a key as a number per row, NaN for NULL: NULL is apart from every value, ±Infinity included
  const keyOf = (k: Ranked, r: number): number => {
    if (k.num) return k.nulls && k.nulls[r] ? NaN : k.sign * k.num[r]!;
    return k.sign * k.rank![k.codes![r]!]!; // NaN: NULL
  };
  const cmpRows = (a: number, b: number): number => {
    for (const k of ranked) {
      const x = keyOf(k, a);
      const y = keyOf(k, b);
      if (x === y) continue;
      const xNull = Number.isNaN(x);
      const yNull = Number.isNaN(y);
      if (xNull && yNull) continue;
      if (xNull || yNull) return xNull === k.nullsFirst ? -1 : 1;
      return x < y ? -1 : 1;
    }
    return a - b; // ties: scan order
  };
  const want = plan.limit + plan.offset;
  // a max-heap of the best `want` rows so far (its root: the worst of them)
  const heap: number[] = [];
  const first = ranked[0]!;
  const down = (at: number) => {
    const n = heap.length;
    for (;;) {
      const l = 2 * at + 1;
      if (l >= n) return;
      const r = l + 1;
      const big = r < n && cmpRows(heap[r]!, heap[l]!) > 0 ? r : l;
      if (cmpRows(heap[big]!, heap[at]!) <= 0) return;
      [heap[big], heap[at]] = [heap[at]!, heap[big]!];
      at = big;
    }
  };
  if (want > 0) {
    scan(plan, sides, Infinity, (rows, m) => {
      const rs = rows[0]!;
      for (let s = 0; s < m; s++) {
        const r = rs[s]!;
        if (heap.length === want) {
          // most rows lose on the first key alone (a comparison with NULL's NaN is false: cmpRows decides)
          const worst = heap[0]!;
          if (keyOf(first, r) > keyOf(first, worst)) continue;
          if (cmpRows(r, worst) >= 0) continue;
          heap[0] = r;
          down(0);
          continue;
        }
        heap.push(r);
        let at = heap.length - 1;
        while (at > 0) {
          const up = (at - 1) >> 1;
          if (cmpRows(heap[at]!, heap[up]!) <= 0) break;
          [heap[at], heap[up]] = [heap[up]!, heap[at]!];
          at = up;
        }
      }
    });
  }
  const best = heap.sort(cmpRows);
  const rows = best.slice(plan.offset).map((r) => itemKeys.map((k) => valueAt(k, r)));
  return { names: plan.items.map((it) => it.name), rows };
}
