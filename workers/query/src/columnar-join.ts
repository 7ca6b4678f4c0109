// The columnar fast path's scan: feeds (row id per side) tuples in blocks — one table's
// filtered rows, or an inner hash join (build on the smaller side, probe with the larger;
// NULL keys never match; text = number keys are SQLite's affinity business, so they bail).
// Kept equal to SQLite by the differential tests that run each query on both engines
// (workers/query/test/query.test.ts "the columnar fast path answers exactly like SQLite",
// workers/query/test/columnar-exact.test.ts) and the fuzz suite over the same path.
import { filterBlock, sideFilters } from "./columnar-kernels";
import {
  Bail,
  BLOCK,
  type FastPlan,
  HASH_BYTES_PER_ROW,
  MAX_JOIN_PAIRS,
  type Side,
} from "./columnar-types";

/**
 * Feeds the plan's tuples to `sink` in blocks: row ids per side (`rows[side][0..m)`). One
 * table: the filtered rows. A join: the probe side's filtered rows, each with every build-side
 * row (filtered) whose key equals its key.
 */
export function scan(
  plan: FastPlan,
  sides: Side[],
  joinBytes: number,
  sink: (rows: Uint32Array[], m: number) => void,
): void {
  const filters = sides.map((s, side) => sideFilters(plan, side, s.cols));
  if (filters.some((f) => f === null)) throw new Bail();
  if (!plan.join) {
    const side = sides[0]!;
    const sel = new Uint32Array(Math.min(BLOCK, Math.max(1, side.rows)));
    for (let from = 0; from < side.rows; from += BLOCK) {
      const to = Math.min(side.rows, from + BLOCK);
      const n = filterBlock(filters[0]!, from, to, sel);
      if (n > 0) sink([sel], n);
    }
    return;
  }
  // build on the smaller side, probe with the larger
  const probe = sides[0]!.rows >= sides[1]!.rows ? 0 : 1;
  const build = 1 - probe;
  const probeRef = plan.join.left.side === probe ? plan.join.left : plan.join.right;
  const buildRef = plan.join.left.side === build ? plan.join.left : plan.join.right;
  const probeCol = sides[probe]!.cols.get(probeRef.col)!;
  const buildCol = sides[build]!.cols.get(buildRef.col)!;
  if (probeCol.kind !== buildCol.kind) throw new Bail(); // text = number: SQLite's affinity rules
  // the build side's rows by key (filtered; NULL keys never match)
  const b = sides[build]!;
  // The hash table is memory the columnar budget did not count: what it and the build side's
  // selection take (an upper bound: every filtered row its own key) must fit what is left of the
  // budget, or SQLite answers (it joins in constant memory).
  if (4 * b.rows > joinBytes) throw new Bail();
  const bsel = new Uint32Array(Math.max(1, b.rows));
  const bn = filterBlock(filters[build]!, 0, b.rows, bsel);
  const probeDict = probeCol.kind === "str" ? probeCol.dict.length : 0;
  if (4 * b.rows + bn * HASH_BYTES_PER_ROW + probeDict * 16 > joinBytes) throw new Bail();
  const byKey = new Map<string | number, number[]>();
  for (let s = 0; s < bn; s++) {
    const r = bsel[s]!;
    let k: string | number | null;
    if (buildCol.kind === "num")
      k = buildCol.nulls && buildCol.nulls[r] ? null : buildCol.values[r]!;
    else k = buildCol.dict[buildCol.codes[r]!]!;
    if (k === null) continue;
    const list = byKey.get(k);
    if (list) list.push(r);
    else byKey.set(k, [r]);
  }
  const p = sides[probe]!;
  const sel = new Uint32Array(Math.min(BLOCK, Math.max(1, p.rows)));
  const outP = new Uint32Array(BLOCK);
  const outB = new Uint32Array(BLOCK);
  const rows: Uint32Array[] = [];
  rows[probe] = outP;
  rows[build] = outB;
  let m = 0;
  const emit = (pr: number, list: number[]) => {
    for (const br of list) {
      if (m === BLOCK) {
        sink(rows, m);
        m = 0;
      }
      outP[m] = pr;
      outB[m] = br;
      m++;
    }
  };
  if (probeCol.kind === "str") {
    // one hash lookup per distinct probe value
    const matches: (number[] | undefined)[] = probeCol.dict.map((v) =>
      v === null ? undefined : byKey.get(v),
    );
    const codes = probeCol.codes;
    // bounded work: the pairs the join makes (before the probe side's filters), from a histogram of its codes
    const histogram = new Float64Array(matches.length);
    for (let r = 0; r < p.rows; r++) histogram[codes[r]!]!++;
    let pairs = 0;
    for (let c = 0; c < matches.length; c++) pairs += histogram[c]! * (matches[c]?.length ?? 0);
    if (pairs > MAX_JOIN_PAIRS) throw new Bail();
    for (let from = 0; from < p.rows; from += BLOCK) {
      const to = Math.min(p.rows, from + BLOCK);
      const n = filterBlock(filters[probe]!, from, to, sel);
      for (let s = 0; s < n; s++) {
        const r = sel[s]!;
        const list = matches[codes[r]!];
        if (list === undefined) continue;
        if (list.length === 1 && m < BLOCK) {
          outP[m] = r;
          outB[m] = list[0]!;
          m++;
        } else emit(r, list);
      }
    }
  } else {
    const { values, nulls } = probeCol;
    for (const list of byKey.values()) if (list.length > 1) throw new Bail(); // numeric keys: a unique build side only (bounded pairs)
    for (let from = 0; from < p.rows; from += BLOCK) {
      const to = Math.min(p.rows, from + BLOCK);
      const n = filterBlock(filters[probe]!, from, to, sel);
      for (let s = 0; s < n; s++) {
        const r = sel[s]!;
        if (nulls && nulls[r]) continue;
        const list = byKey.get(values[r]!);
        if (list !== undefined) emit(r, list);
      }
    }
  }
  if (m > 0) sink(rows, m);
}
