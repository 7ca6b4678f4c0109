// The columnar fast path's GROUP BY: group ids from dictionary codes (dense or sparse) or one
// numeric key, the aggregates per group, HAVING, then SQLite's group order (key order) and
// ORDER BY / LIMIT / OFFSET over the output rows.
// Kept equal to SQLite by the differential tests that run each query on both engines
// (workers/query/test/query.test.ts "the columnar fast path answers exactly like SQLite",
// workers/query/test/columnar-exact.test.ts) and the fuzz suite over the same path.
import { scan } from "./columnar-join";
import { makeAgg, scanKey, valueAt } from "./columnar-kernels";
import {
  type Agg,
  asciiOrBail,
  Bail,
  BLOCK,
  compareToNumber,
  compareValues,
  type Derived,
  type FastPlan,
  type Item,
  MAX_GROUPS,
  orderCompare,
  type ScanKey,
  type Side,
} from "./columnar-types";

/** `joinBytes`: what a join's hash table may take (the columnar budget left after the columns). */
export function runAggregate(
  plan: FastPlan,
  sides: Side[],
  derived: Map<string, Derived>,
  joinBytes = Infinity,
): { names: string[]; rows: unknown[][] } {
  const groupKeys = plan.groupBy.map((k) => scanKey(k, sides, derived));
  // group ids: per code (dense) for dictionary keys, by value for one numeric key
  let nGroups = 0;
  const groupRow: number[][] = []; // per group: its first tuple's row id on each key's side
  let assign: (rows: Uint32Array[], m: number, gid: Int32Array) => void;
  if (groupKeys.length === 0) {
    nGroups = 1;
    assign = (_rows, m, gid) => gid.fill(0, 0, m);
  } else if (groupKeys.every((k) => k.kind === "dict")) {
    const keys = groupKeys as Extract<ScanKey, { kind: "dict" }>[];
    let space = 1;
    for (const k of keys) space *= k.values.length;
    if (space > 2 ** 48) throw new Bail();
    const dense = space <= 1 << 20 ? new Int32Array(space).fill(-1) : null;
    const sparse = dense ? null : new Map<number, number>();
    assign = (rows, m, gid) => {
      for (let s = 0; s < m; s++) {
        let key = 0;
        for (const k of keys) {
          const r = rows[k.side]![s]!;
          key = key * k.values.length + (k.remap ? k.remap[k.codes[r]!]! : k.codes[r]!);
        }
        let g = dense ? dense[key]! : (sparse!.get(key) ?? -1);
        if (g < 0) {
          g = nGroups++;
          if (dense) dense[key] = g;
          else sparse!.set(key, g);
          groupRow.push(rows.map((rs) => rs[s]!));
          if (nGroups > MAX_GROUPS) throw new Bail();
        }
        gid[s] = g;
      }
    };
    if (keys.length === 2 && dense) {
      const [k1, k2] = keys as [(typeof keys)[0], (typeof keys)[0]];
      const width = k2.values.length;
      assign = (rows, m, gid) => {
        const rs1 = rows[k1.side]!;
        const rs2 = rows[k2.side]!;
        const c1 = k1.codes;
        const c2 = k2.codes;
        const m1 = k1.remap;
        const m2 = k2.remap;
        for (let s = 0; s < m; s++) {
          const a = m1 ? m1[c1[rs1[s]!]!]! : c1[rs1[s]!]!;
          const b = m2 ? m2[c2[rs2[s]!]!]! : c2[rs2[s]!]!;
          const key = a * width + b;
          let g = dense[key]!;
          if (g < 0) {
            g = dense[key] = nGroups++;
            groupRow.push(rows.map((x) => x[s]!));
            if (nGroups > MAX_GROUPS) throw new Bail();
          }
          gid[s] = g;
        }
      };
    }
    if (keys.length === 1 && dense) {
      const k = keys[0]!;
      const map = dense;
      assign = (rows, m, gid) => {
        const rs = rows[k.side]!;
        const { codes, remap } = k;
        for (let s = 0; s < m; s++) {
          const key = remap ? remap[codes[rs[s]!]!]! : codes[rs[s]!]!;
          let g = map[key]!;
          if (g < 0) {
            g = map[key] = nGroups++;
            groupRow.push(rows.map((x) => x[s]!));
            if (nGroups > MAX_GROUPS) throw new Bail();
          }
          gid[s] = g;
        }
      };
    }
  } else if (groupKeys.length === 1) {
    const k = groupKeys[0] as Extract<ScanKey, { kind: "num" }>;
    const ids = new Map<number | null, number>();
    assign = (rows, m, gid) => {
      const rs = rows[k.side]!;
      for (let s = 0; s < m; s++) {
        const r = rs[s]!;
        const v = k.nulls && k.nulls[r] ? null : k.values[r]!;
        let g = ids.get(v);
        if (g === undefined) {
          g = nGroups++;
          ids.set(v, g);
          groupRow.push(rows.map((x) => x[s]!));
          if (nGroups > MAX_GROUPS) throw new Bail();
        }
        gid[s] = g;
      }
    };
  } else throw new Bail();
  const singleGroup = groupKeys.length === 0;
  const runs = plan.aggs.map((a) =>
    makeAgg(a, a.arg ? scanKey(a.arg, sides, derived) : null, singleGroup),
  );
  const gid = new Int32Array(BLOCK);
  let tuples = 0;
  scan(plan, sides, joinBytes, (rows, m) => {
    assign(rows, m, gid);
    tuples += m;
    for (const run of runs) run.update(rows, gid, m, nGroups);
  });
  // SQLite emits GROUP BY groups in key order; an empty input with GROUP BY has no rows
  const keyValues = groupRow.map((rows) => groupKeys.map((k) => valueAt(k, rows[k.side]!)));
  let order = Array.from({ length: nGroups }, (_, g) => g);
  if (groupKeys.length > 0) {
    for (const key of keyValues) for (const v of key) asciiOrBail(v);
    order.sort((x, y) => {
      for (let k = 0; k < groupKeys.length; k++) {
        const c = compareValues(keyValues[x]![k], keyValues[y]![k]);
        if (c) return c;
      }
      return 0;
    });
    if (tuples === 0) order = [];
  }
  const aggIndex = new Map(plan.aggs.map((a, k) => [a, k]));
  const results = new Map<Agg, unknown[]>();
  const resultOf = (a: Agg, g: number): unknown => {
    let col = results.get(a);
    if (!col) {
      col = [];
      results.set(a, col);
    }
    if (!(g in col)) col[g] = runs[aggIndex.get(a)!]!.result(g);
    return col[g];
  };
  const itemValue = (g: number, it: Item): unknown =>
    it.agg
      ? resultOf(it.agg, g)
      : keyValues[g]![plan.groupBy.findIndex((k) => k.id === it.key!.id)];
  for (const h of plan.having) {
    order = order.filter((g) => {
      return compareToNumber(resultOf(h.agg, g), h.op, h.value);
    });
  }
  let out = order.map((g) => plan.items.map((it) => itemValue(g, it)));
  if (plan.orderBy.length) {
    for (const row of out) for (const k of plan.orderBy) asciiOrBail(row[k.out!]);
    out = out
      .map((row, k) => ({ row, k }))
      .sort((x, y) => {
        for (const key of plan.orderBy) {
          const c = orderCompare(x.row[key.out!], y.row[key.out!], key);
          if (c) return c;
        }
        return x.k - y.k;
      })
      .map((x) => x.row);
  }
  out = out.slice(plan.offset, plan.limit === Infinity ? undefined : plan.offset + plan.limit);
  return { names: plan.items.map((it) => it.name), rows: out };
}
