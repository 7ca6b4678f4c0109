// The columnar fast path's kernels: WHERE filters as tight loops over typed arrays (text: a
// pass/fail table per dictionary code), and the aggregates count / count(DISTINCT) / sum / avg
// / min / max per group. Each follows SQLite's rules (NULLs skipped, integer vs real results,
// Kahan-Babuska-Neumaier summation of reals); what it cannot reproduce exactly throws Bail.
// Kept equal to SQLite by the differential tests that run each query on both engines
// (workers/query/test/query.test.ts "the columnar fast path answers exactly like SQLite",
// workers/query/test/columnar-exact.test.ts) and the fuzz suite over the same path.
import {
  type Agg,
  asciiOrBail,
  Bail,
  type CodeArray,
  type Column,
  cmpStr,
  compareValues,
  type Derived,
  type FastPlan,
  INT64_NEAR_MAX,
  isAscii,
  type KeyExpr,
  type Op,
  type ScanKey,
  type Side,
} from "./columnar-types";

/**
 * Filters rows [from, to) of a side by its conditions into `sel` (row ids); returns how many.
 * Each condition is a tight loop over a typed array (text: a pass/fail table per code).
 */
export function filterBlock(
  conds: ((sel: Uint32Array, n: number) => number)[],
  from: number,
  to: number,
  sel: Uint32Array,
): number {
  let n = 0;
  for (let r = from; r < to; r++) sel[n++] = r;
  for (const c of conds) {
    n = c(sel, n);
    if (n === 0) break;
  }
  return n;
}

function numFilter(
  values: Float64Array | Int32Array,
  nulls: Uint8Array | null,
  op: Op,
  v: number,
): (sel: Uint32Array, n: number) => number {
  return (sel, n) => {
    let k = 0;
    switch (op) {
      case ">":
        for (let s = 0; s < n; s++) {
          const r = sel[s]!;
          if (values[r]! > v) sel[k++] = r;
        }
        break;
      case ">=":
        for (let s = 0; s < n; s++) {
          const r = sel[s]!;
          if (values[r]! >= v) sel[k++] = r;
        }
        break;
      case "<":
        for (let s = 0; s < n; s++) {
          const r = sel[s]!;
          if (values[r]! < v) sel[k++] = r;
        }
        break;
      case "<=":
        for (let s = 0; s < n; s++) {
          const r = sel[s]!;
          if (values[r]! <= v) sel[k++] = r;
        }
        break;
      case "=":
        for (let s = 0; s < n; s++) {
          const r = sel[s]!;
          if (values[r]! === v) sel[k++] = r;
        }
        break;
      case "<>":
        for (let s = 0; s < n; s++) {
          const r = sel[s]!;
          if (values[r]! !== v) sel[k++] = r;
        }
        break;
    }
    if (nulls) {
      // a NULL compares to nothing (its slot in `values` holds 0)
      let j = 0;
      for (let s = 0; s < k; s++) {
        const r = sel[s]!;
        if (!nulls[r]) sel[j++] = r;
      }
      k = j;
    }
    return k;
  };
}

function codeFilter(codes: CodeArray, pass: Uint8Array): (sel: Uint32Array, n: number) => number {
  return (sel, n) => {
    let k = 0;
    for (let s = 0; s < n; s++) {
      const r = sel[s]!;
      if (pass[codes[r]!]) sel[k++] = r;
    }
    return k;
  };
}

function nullFilter(
  nulls: Uint8Array | null,
  wantNull: boolean,
): (sel: Uint32Array, n: number) => number {
  return (sel, n) => {
    if (!nulls) return wantNull ? 0 : n;
    let k = 0;
    for (let s = 0; s < n; s++) {
      const r = sel[s]!;
      if ((nulls[r] === 1) === wantNull) sel[k++] = r;
    }
    return k;
  };
}

/** The conditions of one side as filters, or null when one needs SQLite. */
export function sideFilters(
  plan: FastPlan,
  side: number,
  cols: Map<string, Column>,
): ((sel: Uint32Array, n: number) => number)[] | null {
  const out: ((sel: Uint32Array, n: number) => number)[] = [];
  for (const cond of plan.where) {
    if (cond.ref.side !== side) continue;
    const col = cols.get(cond.ref.col)!;
    if ("isNull" in cond) {
      if (col.kind === "num") out.push(nullFilter(col.nulls, cond.isNull));
      else {
        const pass = new Uint8Array(col.dict.length);
        if (cond.isNull) pass[0] = 1;
        else pass.fill(1, 1);
        out.push(codeFilter(col.codes, pass));
      }
      continue;
    }
    if (col.kind === "num") {
      if (typeof cond.value !== "number") return null;
      out.push(numFilter(col.values, col.nulls, cond.op, cond.value));
    } else {
      if (typeof cond.value !== "string") return null;
      // a numeric-looking literal may get numeric affinity against a TIMESTAMP (NUMERIC) column: SQLite decides
      if (/^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$/.test(cond.value)) return null;
      if (cond.op !== "=" && cond.op !== "<>" && (!col.ascii || !isAscii(cond.value))) return null;
      const pass = new Uint8Array(col.dict.length);
      for (let c = 1; c < col.dict.length; c++)
        pass[c] = cmpStr(col.dict[c]!, cond.op, cond.value) ? 1 : 0;
      out.push(codeFilter(col.codes, pass));
    }
  }
  return out;
}

/** A growable per-group array of doubles. */
class Grow {
  a: Float64Array;
  constructor(private readonly fill: number) {
    this.a = new Float64Array(16).fill(fill);
  }
  ensure(n: number): Float64Array {
    if (n > this.a.length) {
      let len = this.a.length;
      while (len < n) len *= 2;
      const next = new Float64Array(len).fill(this.fill);
      next.set(this.a);
      this.a = next;
    }
    return this.a;
  }
}

/** Per-aggregate state and its block update. */
interface AggRun {
  update(rows: Uint32Array[], gid: Int32Array, m: number, nGroups: number): void;
  result(g: number): unknown;
}

export function makeAgg(agg: Agg, key: ScanKey | null, singleGroup: boolean): AggRun {
  const count = new Grow(0);
  if (agg.fn === "count" && !agg.distinct) {
    if (key === null) {
      return {
        update(_rows, gid, m, nGroups) {
          const c = count.ensure(nGroups);
          if (singleGroup) c[0]! += m;
          else for (let s = 0; s < m; s++) c[gid[s]!]!++;
        },
        result: (g) => count.a[g] ?? 0,
      };
    }
    return {
      update(rows, gid, m, nGroups) {
        const c = count.ensure(nGroups);
        const rs = rows[key.side]!;
        if (key.kind === "num") {
          const nulls = key.nulls;
          for (let s = 0; s < m; s++) if (!nulls || !nulls[rs[s]!]) c[gid[s]!]!++;
        } else {
          const { codes, remap, values } = key;
          for (let s = 0; s < m; s++) {
            const code = remap ? remap[codes[rs[s]!]!]! : codes[rs[s]!]!;
            if (values[code] !== null) c[gid[s]!]!++;
          }
        }
      },
      result: (g) => count.a[g] ?? 0,
    };
  }
  if (!key) throw new Bail();
  if (agg.distinct) {
    if (key.kind === "dict") {
      const V = key.values.length;
      if (singleGroup) {
        const seen = new Uint8Array(V);
        return {
          update(rows, _gid, m) {
            const rs = rows[key.side]!;
            const { codes, remap } = key;
            if (remap) for (let s = 0; s < m; s++) seen[remap[codes[rs[s]!]!]!] = 1;
            else for (let s = 0; s < m; s++) seen[codes[rs[s]!]!] = 1;
          },
          result: () => {
            let n = 0;
            for (let c = 0; c < V; c++) if (seen[c] && key.values[c] !== null) n++;
            return n;
          },
        };
      }
      const sets: Set<number>[] = [];
      return {
        update(rows, gid, m, nGroups) {
          while (sets.length < nGroups) sets.push(new Set());
          const rs = rows[key.side]!;
          const { codes, remap, values } = key;
          for (let s = 0; s < m; s++) {
            const code = remap ? remap[codes[rs[s]!]!]! : codes[rs[s]!]!;
            if (values[code] !== null) sets[gid[s]!]!.add(code);
          }
        },
        result: (g) => sets[g]?.size ?? 0,
      };
    }
    const sets: Set<number>[] = [];
    return {
      update(rows, gid, m, nGroups) {
        while (sets.length < nGroups) sets.push(new Set());
        const rs = rows[key.side]!;
        const { values, nulls } = key;
        for (let s = 0; s < m; s++) {
          const r = rs[s]!;
          if (!nulls || !nulls[r]) sets[gid[s]!]!.add(values[r]!);
        }
      },
      result: (g) => sets[g]?.size ?? 0,
    };
  }
  if (agg.fn === "sum" || agg.fn === "avg") {
    // As SQLite's sum() and avg(): over INTEGER values an exact int64 sum; over REAL values
    // Kahan–Babuška–Neumaier, whose error term is dropped when it is not finite.
    const sum = new Grow(0);
    const comp = new Grow(0);
    /**
     * Integers: a double holds a partial sum exactly while it stays within ±(2^53 − 1) (every
     * value does: readColumn gives way past it). A step that would leave that range moves the
     * group's double part and the value into an exact bigint instead (`big`): no rounding, ever.
     */
    const big: (bigint | undefined)[] = [];
    const spill = (sm: Float64Array, g: number, v: number) => {
      const b = (big[g] ?? 0n) + BigInt(sm[g]!) + BigInt(v);
      // past int64 (SQLite: "integer overflow" for sum, an approximate avg): SQLite answers
      if (b > INT64_NEAR_MAX || b < -INT64_NEAR_MAX) throw new Bail();
      big[g] = b;
      sm[g] = 0;
    };
    const intResult = (g: number): unknown => {
      const n = count.a[g] ?? 0;
      if (n === 0) return null;
      const b = big[g];
      if (b === undefined) {
        const total = sum.a[g]!;
        return agg.fn === "sum" ? total : total / n;
      }
      const exact = b + BigInt(sum.a[g]!);
      if (agg.fn === "avg") return Number(exact) / n; // SQLite: (double) of the int64 sum, over the count
      // an int64 past 2^53 is no exact JSON number: SQLite answers whatever it answers
      if (exact > BigInt(Number.MAX_SAFE_INTEGER) || exact < -BigInt(Number.MAX_SAFE_INTEGER))
        throw new Bail();
      return Number(exact);
    };
    let integer = key.kind === "num" && key.integer;
    let dictValues: Float64Array | null = null;
    if (key.kind === "dict") {
      // a derived key's values: SQLite said which are INTEGER (key.integer); text is SQLite's business
      integer = key.integer;
      dictValues = new Float64Array(key.values.length);
      key.values.forEach((v, c) => {
        if (v === null) return;
        if (typeof v !== "number") throw new Bail(); // sum over text: SQLite's conversion rules
        if (integer && (!Number.isInteger(v) || Math.abs(v) > Number.MAX_SAFE_INTEGER))
          throw new Bail();
        dictValues![c] = v;
      });
    }
    if (key.kind === "num" && integer) {
      // integers from a column: the common case, kept tight
      const { values, nulls, side, absMax } = key;
      return {
        update(rows, gid, m, nGroups) {
          const c = count.ensure(nGroups);
          const sm = sum.ensure(nGroups);
          const rs = rows[side]!;
          if (singleGroup && !nulls && Math.abs(sm[0]!) + absMax * m <= Number.MAX_SAFE_INTEGER) {
            // no partial sum of this block can leave the exact range
            let t = 0;
            for (let s = 0; s < m; s++) t += values[rs[s]!]!;
            sm[0]! += t;
            c[0]! += m;
            return;
          }
          for (let s = 0; s < m; s++) {
            const r = rs[s]!;
            if (nulls !== null && nulls[r]) continue;
            const g = gid[s]!;
            c[g]!++;
            const v = values[r]!;
            const t = sm[g]! + v;
            if (t > Number.MAX_SAFE_INTEGER || t < -Number.MAX_SAFE_INTEGER) spill(sm, g, v);
            else sm[g] = t;
          }
        },
        result: intResult,
      };
    }
    return {
      update(rows, gid, m, nGroups) {
        const c = count.ensure(nGroups);
        const sm = sum.ensure(nGroups);
        const cp = comp.ensure(nGroups);
        const rs = rows[key.side]!;
        for (let s = 0; s < m; s++) {
          const r = rs[s]!;
          let v: number;
          if (key.kind === "num") {
            if (key.nulls && key.nulls[r]) continue;
            v = key.values[r]!;
          } else {
            const code = key.remap ? key.remap[key.codes[r]!]! : key.codes[r]!;
            if (key.values[code] === null) continue;
            v = dictValues![code]!;
          }
          const g = gid[s]!;
          c[g]!++;
          const x = sm[g]!;
          const t = x + v;
          if (integer) {
            if (t > Number.MAX_SAFE_INTEGER || t < -Number.MAX_SAFE_INTEGER) spill(sm, g, v);
            else sm[g] = t;
          } else {
            // SQLite's kahanBabuskaNeumaierStep, to the letter (strictly greater)
            if (Math.abs(x) > Math.abs(v)) cp[g]! += x - t + v;
            else cp[g]! += v - t + x;
            sm[g] = t;
          }
        }
      },
      result: (g) => {
        if (integer) return intResult(g);
        const n = count.a[g] ?? 0;
        if (n === 0) return null;
        const err = comp.a[g]!;
        const total = Number.isFinite(err) ? sum.a[g]! + err : sum.a[g]!;
        const out = agg.fn === "sum" ? total : total / n;
        return Number.isNaN(out) ? null : out; // SQLite returns a NaN result as NULL
      },
    };
  }
  // min / max
  const isMax = agg.fn === "max";
  if (key.kind === "num") {
    const best = new Grow(isMax ? -Infinity : Infinity);
    const { values, nulls, side } = key;
    return {
      update(rows, gid, m, nGroups) {
        const c = count.ensure(nGroups);
        const b = best.ensure(nGroups);
        const rs = rows[side]!;
        if (singleGroup && !nulls) {
          let v = b[0]!;
          if (isMax) for (let s = 0; s < m; s++) v = Math.max(v, values[rs[s]!]!);
          else for (let s = 0; s < m; s++) v = Math.min(v, values[rs[s]!]!);
          b[0] = v;
          c[0]! += m;
          return;
        }
        for (let s = 0; s < m; s++) {
          const r = rs[s]!;
          if (nulls && nulls[r]) continue;
          const g = gid[s]!;
          const v = values[r]!;
          c[g]!++;
          if (isMax ? v > b[g]! : v < b[g]!) b[g] = v;
        }
      },
      result: (g) => ((count.a[g] ?? 0) === 0 ? null : best.a[g]),
    };
  }
  // over a dictionary: by the rank of each code's value in SQLite's order
  const order = key.values.map((_, c) => c).filter((c) => key.values[c] !== null);
  for (const c of order) asciiOrBail(key.values[c]);
  order.sort((x, y) => compareValues(key.values[x], key.values[y]));
  const rank = new Float64Array(key.values.length).fill(-1);
  for (const [k, c] of order.entries()) rank[c] = k;
  const best = new Grow(isMax ? -Infinity : Infinity);
  return {
    update(rows, gid, m, nGroups) {
      const b = best.ensure(nGroups);
      const rs = rows[key.side]!;
      const { codes, remap } = key;
      for (let s = 0; s < m; s++) {
        const code = remap ? remap[codes[rs[s]!]!]! : codes[rs[s]!]!;
        const k = rank[code]!;
        if (k < 0) continue;
        const g = gid[s]!;
        if (isMax ? k > b[g]! : k < b[g]!) b[g] = k;
      }
    },
    result: (g) => {
      const k = best.a[g];
      return k === undefined || !Number.isFinite(k) ? null : key.values[order[k]!];
    },
  };
}

/** How the scan reads a key: its column, through the derived map when it is a function of the column. */
export function scanKey(k: KeyExpr, sides: Side[], derived: Map<string, Derived>): ScanKey {
  const col = sides[k.ref.side]!.cols.get(k.ref.col)!;
  if (k.fx !== null) {
    if (col.kind !== "str") throw new Bail();
    const d = derived.get(k.id);
    if (!d) throw new Bail();
    return {
      kind: "dict",
      side: k.ref.side,
      codes: col.codes,
      remap: d.remap,
      values: d.values,
      integer: d.integer,
    };
  }
  if (col.kind === "num")
    return {
      kind: "num",
      side: k.ref.side,
      values: col.values,
      nulls: col.nulls,
      integer: col.integer,
      absMax: col.absMax,
    };
  return {
    kind: "dict",
    side: k.ref.side,
    codes: col.codes,
    remap: null,
    values: col.dict,
    integer: false,
  };
}

export function valueAt(key: ScanKey, r: number): unknown {
  if (key.kind === "num") return key.nulls && key.nulls[r] ? null : key.values[r]!;
  return key.values[key.remap ? key.remap[key.codes[r]!]! : key.codes[r]!];
}
