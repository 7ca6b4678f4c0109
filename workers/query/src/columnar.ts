// The columnar fast path: single-table filter / aggregate / GROUP BY queries answered from
// typed arrays (numbers: Float64Array + null bitmap; text: dictionary codes) instead of
// SQLite's row b-trees. Only the columns a query names are read (from the engine's own
// SQLite copy, once per dataset version, then cached in memory within a byte budget).
// Anything outside the narrow grammar below returns null and SQLite answers instead, so
// results are SQLite's semantics: NULLs, integer vs real, binary string order (ASCII only
// here; other text falls back), NULLs first in ascending order.
//
//   SELECT item, ... FROM <dataset> [WHERE col op literal AND ...] [GROUP BY col, ...]
//     [HAVING agg op number AND ...] [ORDER BY out [ASC|DESC], ...] [LIMIT n [OFFSET m]]
//   item: col | count(*) | count([DISTINCT] col) | sum(col) | avg(col) | min(col) | max(col), [AS alias]
import { tokenize, type Token } from "./guard";

type Op = "=" | "<>" | "<" | "<=" | ">" | ">=";
type AggFn = "count" | "sum" | "avg" | "min" | "max";

interface Agg {
  fn: AggFn;
  col: string | null; // null: count(*)
  distinct: boolean;
  key: string;
}

interface Item {
  name: string;
  kind: "col" | "agg";
  col?: string;
  agg?: Agg;
}

interface Cond {
  col: string;
  op: Op;
  value: number | string;
}

interface Having {
  agg?: Agg;
  out?: number;
  op: Op;
  value: number;
}

interface OrderKey {
  out: number;
  desc: boolean;
}

export interface FastPlan {
  table: string;
  items: Item[];
  where: Cond[];
  groupBy: string[];
  having: Having[];
  aggs: Agg[];
  orderBy: OrderKey[];
  limit: number;
  offset: number;
}

export type Column =
  | { kind: "num"; values: Float64Array | Int32Array; nulls: Uint8Array | null; bytes: number }
  | { kind: "str"; codes: Uint32Array; dict: (string | null)[]; ascii: boolean; bytes: number };

const AGG_FNS = new Set(["count", "sum", "avg", "min", "max"]);
const OPS: Record<string, Op> = { "=": "=", "==": "=", "<>": "<>", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">=" };
const CLAUSE = new Set(["from", "where", "group", "having", "order", "limit", "offset", "as"]);

class NotFast extends Error {}

/** Parses `sql` into a plan over one table's columns (`datasets`: table name as written → (lower-case column → declared name)), or null. */
export function planFast(sql: string, datasets: Map<string, Map<string, string>>): FastPlan | null {
  try {
    return parse(sql, datasets);
  } catch (err) {
    if (err instanceof NotFast) return null;
    throw err;
  }
}

function parse(sql: string, datasets: Map<string, Map<string, string>>): FastPlan {
  const toks = tokenize(sql).filter((t) => t.text !== ";");
  let i = 0;
  const peek = (k = 0): Token | undefined => toks[i + k];
  const word = (t: Token | undefined): string => (t && t.kind === "word" ? t.value.toLowerCase() : "");
  const expectWord = (w: string) => {
    if (word(peek()) !== w) throw new NotFast();
    i++;
  };
  const ident = (): string => {
    const t = peek();
    if (!t || (t.kind !== "word" && t.kind !== "quoted")) throw new NotFast();
    if (t.kind === "word" && (CLAUSE.has(t.value.toLowerCase()) || AGG_FNS.has(t.value.toLowerCase()) && peek(1)?.text === "(")) throw new NotFast();
    i++;
    return t.value;
  };
  /** At `fn(` of an aggregate: parses `fn([DISTINCT] col | *)` and returns it with the position after `)`. */
  const aggCall = (): { fn: AggFn; col: string | null; distinct: boolean; end: number } => {
    const fn = peek()!.value.toLowerCase() as AggFn;
    i += 2;
    let distinct = false;
    let col: string | null = null;
    if (peek()?.text === "*") {
      if (fn !== "count") throw new NotFast();
      i++;
    } else {
      if (word(peek()) === "distinct") {
        if (fn !== "count") throw new NotFast();
        distinct = true;
        i++;
      }
      col = ident();
    }
    if (peek()?.text !== ")") throw new NotFast();
    const close = peek()!;
    i++;
    return { fn, col, distinct, end: close.pos + 1 };
  };
  expectWord("select");
  if (word(peek()) === "distinct" || word(peek()) === "all") throw new NotFast();
  // select list: remember raw spans, resolve after FROM
  const rawItems: { start: number; end: number; agg?: { fn: AggFn; col: string | null; distinct: boolean }; col?: string; alias?: string }[] = [];
  for (;;) {
    const first = peek();
    if (!first) throw new NotFast();
    const startPos = first.pos;
    let item: (typeof rawItems)[number];
    if (first.kind === "word" && AGG_FNS.has(first.value.toLowerCase()) && peek(1)?.text === "(") {
      const { fn, col, distinct, end } = aggCall();
      item = { start: startPos, end, agg: { fn, col, distinct } };
    } else {
      const col = ident();
      const last = toks[i - 1]!;
      item = { start: startPos, end: last.pos + last.text.length, col };
    }
    if (word(peek()) === "as") {
      i++;
      item.alias = ident();
    } else if (peek()?.kind === "quoted" || (peek()?.kind === "word" && !CLAUSE.has(word(peek())))) {
      item.alias = ident();
    }
    rawItems.push(item);
    if (peek()?.text === ",") {
      i++;
      continue;
    }
    break;
  }
  expectWord("from");
  const tableTok = peek();
  const tableName = ident();
  const schema = datasets.get(tableName); // keyed by the name as written (the engine resolved it)
  if (!schema || !tableTok) throw new NotFast();
  if (peek()?.kind === "word" && !CLAUSE.has(word(peek()))) throw new NotFast(); // table alias: keep it simple
  const column = (name: string): string => {
    const c = schema.get(name.toLowerCase());
    if (!c) throw new NotFast(); // let SQLite name the unknown column
    return c;
  };
  const aggs: Agg[] = [];
  const aggOf = (a: { fn: AggFn; col: string | null; distinct: boolean }): Agg => {
    const col = a.col === null ? null : column(a.col);
    const key = `${a.fn}|${a.distinct ? "d" : ""}|${col ?? "*"}`;
    let found = aggs.find((x) => x.key === key);
    if (!found) {
      found = { fn: a.fn, col, distinct: a.distinct, key };
      aggs.push(found);
    }
    return found;
  };
  const items: Item[] = rawItems.map((r) =>
    r.agg
      ? { name: r.alias ?? sql.slice(r.start, r.end), kind: "agg", agg: aggOf(r.agg) }
      : { name: r.alias ?? column(r.col!), kind: "col", col: column(r.col!) },
  );
  const literal = (): number | string => {
    let neg = false;
    if (peek()?.text === "-" || peek()?.text === "+") {
      neg = peek()!.text === "-";
      i++;
    }
    const t = peek();
    if (!t) throw new NotFast();
    i++;
    if (t.kind === "number") {
      if (!/^[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?$|^\.[0-9]+$/.test(t.text)) throw new NotFast();
      const n = Number(t.text);
      return neg ? -n : n;
    }
    if (t.kind === "string" && !neg) return t.value;
    throw new NotFast();
  };
  const op = (): Op => {
    const o = OPS[peek()?.text ?? ""];
    if (!o) throw new NotFast();
    i++;
    return o;
  };
  const where: Cond[] = [];
  if (word(peek()) === "where") {
    i++;
    for (;;) {
      const col = column(ident());
      const o = op();
      where.push({ col, op: o, value: literal() });
      if (word(peek()) === "and") {
        i++;
        continue;
      }
      break;
    }
  }
  const groupBy: string[] = [];
  if (word(peek()) === "group") {
    i++;
    expectWord("by");
    for (;;) {
      groupBy.push(column(ident()));
      if (peek()?.text === ",") {
        i++;
        continue;
      }
      break;
    }
  }
  // every bare column must be grouped; without GROUP BY, all items must be aggregates
  for (const it of items) if (it.kind === "col" && !groupBy.includes(it.col!)) throw new NotFast();
  if (groupBy.length === 0 && aggs.length === 0) throw new NotFast();
  const having: Having[] = [];
  if (word(peek()) === "having") {
    if (groupBy.length === 0) throw new NotFast();
    i++;
    for (;;) {
      const t = peek();
      let h: Having;
      if (t?.kind === "word" && AGG_FNS.has(t.value.toLowerCase()) && peek(1)?.text === "(") {
        const { fn, col, distinct } = aggCall();
        const agg = aggOf({ fn, col, distinct });
        const o = op();
        const v = literal();
        if (typeof v !== "number") throw new NotFast();
        h = { agg, op: o, value: v };
      } else {
        const name = ident();
        const out = items.findIndex((it) => it.name.toLowerCase() === name.toLowerCase() && it.kind === "agg");
        if (out < 0) throw new NotFast();
        const o = op();
        const v = literal();
        if (typeof v !== "number") throw new NotFast();
        h = { out, op: o, value: v };
      }
      having.push(h);
      if (word(peek()) === "and") {
        i++;
        continue;
      }
      break;
    }
  }
  const orderBy: OrderKey[] = [];
  if (word(peek()) === "order") {
    i++;
    expectWord("by");
    for (;;) {
      const t = peek();
      let out = -1;
      if (t?.kind === "number" && /^[0-9]+$/.test(t.text)) {
        out = Number(t.text) - 1;
        i++;
        if (out < 0 || out >= items.length) throw new NotFast();
      } else {
        const name = ident();
        const lower = name.toLowerCase();
        out = items.findIndex((it) => it.name.toLowerCase() === lower);
        if (out < 0) {
          const col = schema.get(lower);
          out = items.findIndex((it) => it.kind === "col" && it.col === col);
        }
        if (out < 0) throw new NotFast();
      }
      let desc = false;
      if (word(peek()) === "asc") i++;
      else if (word(peek()) === "desc") {
        desc = true;
        i++;
      }
      if (word(peek()) === "nulls" || word(peek()) === "collate") throw new NotFast();
      orderBy.push({ out, desc });
      if (peek()?.text === ",") {
        i++;
        continue;
      }
      break;
    }
  }
  let limit = Infinity;
  let offset = 0;
  if (word(peek()) === "limit") {
    i++;
    const t = peek();
    if (t?.kind !== "number" || !/^[0-9]+$/.test(t.text)) throw new NotFast();
    limit = Number(t.text);
    i++;
    if (word(peek()) === "offset") {
      i++;
      const o = peek();
      if (o?.kind !== "number" || !/^[0-9]+$/.test(o.text)) throw new NotFast();
      offset = Number(o.text);
      i++;
    }
  }
  if (i !== toks.length) throw new NotFast();
  return { table: tableName, items, where, groupBy, having, aggs, orderBy, limit, offset };
}

function isAscii(s: string): boolean {
  for (let k = 0; k < s.length; k++) if (s.charCodeAt(k) > 0x7f) return false;
  return true;
}

/** Reads one column of a physical table into a typed column (numbers or dictionary codes). */
export function readColumn(sql: SqlStorage, physical: string, name: string, numeric: boolean, rows: number): Column | null {
  const cursor = sql.exec(`SELECT "${name.replaceAll('"', '""')}" FROM "${physical.replaceAll('"', '""')}"`);
  if (numeric) {
    const values = new Float64Array(rows);
    let nulls: Uint8Array | null = null;
    let r = 0;
    for (const [v] of cursor.raw()) {
      if (r >= rows) return null;
      if (typeof v === "number") values[r] = v;
      else if (v === null) {
        nulls ??= new Uint8Array(rows);
        nulls[r] = 1;
      } else return null; // text in a numeric column (an int64 beyond 2^53): SQLite answers
      r++;
    }
    if (r !== rows) return null;
    let small = true;
    for (let k = 0; k < rows && small; k++) {
      const v = values[k]!;
      if (v !== (v | 0) || Object.is(v, -0)) small = false;
    }
    if (small) return { kind: "num", values: Int32Array.from(values), nulls, bytes: rows * 4 + (nulls ? rows : 0) };
    return { kind: "num", values, nulls, bytes: rows * 8 + (nulls ? rows : 0) };
  }
  const codes = new Uint32Array(rows);
  const dict: (string | null)[] = [null];
  const index = new Map<string, number>();
  let ascii = true;
  let r = 0;
  let dictBytes = 0;
  for (const [v] of cursor.raw()) {
    if (r >= rows) return null;
    if (v === null) codes[r] = 0;
    else if (typeof v === "string") {
      let c = index.get(v);
      if (c === undefined) {
        c = dict.length;
        dict.push(v);
        index.set(v, c);
        dictBytes += 2 * v.length + 48;
        if (ascii && !isAscii(v)) ascii = false;
      }
      codes[r] = c;
    } else return null; // a number in a text column: SQLite answers
    r++;
  }
  if (r !== rows) return null;
  return { kind: "str", codes, dict, ascii, bytes: rows * 4 + dictBytes };
}

// Two copies on purpose: cmpNum runs once per row in the filter loop and stays
// monomorphic (numbers only); cmpStr runs once per dictionary entry.
function cmpNum(a: number, op: Op, b: number): boolean {
  switch (op) {
    case "=":
      return a === b;
    case "<>":
      return a !== b;
    case "<":
      return a < b;
    case "<=":
      return a <= b;
    case ">":
      return a > b;
    case ">=":
      return a >= b;
  }
}

function cmpStr(a: string, op: Op, b: string): boolean {
  switch (op) {
    case "=":
      return a === b;
    case "<>":
      return a !== b;
    case "<":
      return a < b;
    case "<=":
      return a <= b;
    case ">":
      return a > b;
    case ">=":
      return a >= b;
  }
}

/** SQLite's order: NULL < numbers < text; text by (ASCII) code units. */
function compareValues(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  if (typeof a === "number" && typeof b === "number") return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === "number") return -1;
  if (typeof b === "number") return 1;
  return (a as string) < (b as string) ? -1 : 1;
}

interface AggState {
  count: Float64Array;
  sum: Float64Array;
  min: Float64Array;
  max: Float64Array;
  distinct: Set<number>[];
}

/**
 * Runs a plan over the columns it needs (`columns`: declared name → column). Returns the
 * output column names and rows, or null when the data needs SQLite after all.
 */
export function runFast(plan: FastPlan, columns: Map<string, Column>, rows: number): { names: string[]; rows: unknown[][] } | null {
  // selection
  let selected: Uint32Array | null = null;
  let nSel = rows;
  for (const cond of plan.where) {
    const col = columns.get(cond.col)!;
    const keep = new Uint8Array(rows);
    if (col.kind === "num") {
      if (typeof cond.value !== "number") return null;
      const { values, nulls } = col;
      const v = cond.value;
      for (let r = 0; r < rows; r++) keep[r] = !(nulls && nulls[r]) && cmpNum(values[r]!, cond.op, v) ? 1 : 0;
    } else {
      if (typeof cond.value !== "string") return null;
      // a numeric-looking literal may get numeric affinity against a TIMESTAMP (NUMERIC) column: SQLite decides
      if (/^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$/.test(cond.value)) return null;
      if (cond.op !== "=" && cond.op !== "<>" && (!col.ascii || !isAscii(cond.value))) return null;
      const pass = new Uint8Array(col.dict.length);
      for (let c = 1; c < col.dict.length; c++) pass[c] = cmpStr(col.dict[c]!, cond.op, cond.value) ? 1 : 0;
      const codes = col.codes;
      for (let r = 0; r < rows; r++) keep[r] = pass[codes[r]!]!;
    }
    if (selected === null) {
      let n = 0;
      for (let r = 0; r < rows; r++) n += keep[r]!;
      selected = new Uint32Array(n);
      let k = 0;
      for (let r = 0; r < rows; r++) if (keep[r]) selected[k++] = r;
    } else {
      let k = 0;
      for (let s = 0; s < nSel; s++) {
        const r = selected[s]!;
        if (keep[r]) selected[k++] = r;
      }
      selected = selected.subarray(0, k);
    }
    nSel = selected.length;
  }
  // group ids
  const groupCols = plan.groupBy.map((g) => columns.get(g)!);
  let groupOf: (r: number) => number;
  const groupKeys: unknown[][] = [];
  if (groupCols.length === 0) {
    groupKeys.push([]);
    groupOf = () => 0;
  } else if (groupCols.every((c) => c.kind === "str")) {
    const strCols = groupCols as Extract<Column, { kind: "str" }>[];
    let space = 1;
    for (const c of strCols) space *= c.dict.length;
    if (space > 2 ** 48) return null;
    const ids = new Map<number, number>();
    groupOf = (r) => {
      let key = 0;
      for (const c of strCols) key = key * c.dict.length + c.codes[r]!;
      let g = ids.get(key);
      if (g === undefined) {
        g = groupKeys.length;
        ids.set(key, g);
        groupKeys.push(strCols.map((c) => c.dict[c.codes[r]!]));
      }
      return g;
    };
  } else if (groupCols.length === 1 && groupCols[0]!.kind === "num") {
    const c = groupCols[0] as Extract<Column, { kind: "num" }>;
    const ids = new Map<number | null, number>();
    groupOf = (r) => {
      const v = c.nulls && c.nulls[r] ? null : c.values[r]!;
      let g = ids.get(v);
      if (g === undefined) {
        g = groupKeys.length;
        ids.set(v, g);
        groupKeys.push([v]);
      }
      return g;
    };
  } else return null;
  const gid = new Uint32Array(nSel);
  for (let s = 0; s < nSel; s++) gid[s] = groupOf(selected ? selected[s]! : s);
  const nGroups = groupKeys.length;
  // aggregates
  const results: unknown[][] = plan.aggs.map(() => new Array(nGroups));
  for (const [a, agg] of plan.aggs.entries()) {
    const out = results[a]!;
    if (agg.col === null) {
      const count = new Float64Array(nGroups);
      for (let s = 0; s < nSel; s++) count[gid[s]!]!++;
      for (let g = 0; g < nGroups; g++) out[g] = count[g];
      continue;
    }
    const col = columns.get(agg.col)!;
    const st: AggState = {
      count: new Float64Array(nGroups),
      sum: new Float64Array(nGroups),
      min: new Float64Array(nGroups).fill(Infinity),
      max: new Float64Array(nGroups).fill(-Infinity),
      distinct: [],
    };
    if (agg.distinct) for (let g = 0; g < nGroups; g++) st.distinct.push(new Set());
    if (col.kind === "num") {
      const { values, nulls } = col;
      for (let s = 0; s < nSel; s++) {
        const r = selected ? selected[s]! : s;
        if (nulls && nulls[r]) continue;
        const g = gid[s]!;
        const v = values[r]!;
        st.count[g]!++;
        if (agg.distinct) st.distinct[g]!.add(v);
        else if (agg.fn === "sum" || agg.fn === "avg") st.sum[g]! += v;
        else if (agg.fn === "min") {
          if (v < st.min[g]!) st.min[g] = v;
        } else if (agg.fn === "max") {
          if (v > st.max[g]!) st.max[g] = v;
        }
      }
    } else {
      if (agg.fn === "sum" || agg.fn === "avg") return null;
      if ((agg.fn === "min" || agg.fn === "max") && !col.ascii) return null;
      const codes = col.codes;
      // min/max over text: by dictionary rank
      let rank: Float64Array | null = null;
      let byRank: number[] = [];
      if (agg.fn === "min" || agg.fn === "max") {
        byRank = col.dict.map((_, c) => c).slice(1).sort((x, y) => (col.dict[x]! < col.dict[y]! ? -1 : 1));
        rank = new Float64Array(col.dict.length);
        byRank.forEach((c, k) => (rank![c] = k));
      }
      for (let s = 0; s < nSel; s++) {
        const r = selected ? selected[s]! : s;
        const code = codes[r]!;
        if (code === 0) continue;
        const g = gid[s]!;
        st.count[g]!++;
        if (agg.distinct) st.distinct[g]!.add(code);
        else if (rank) {
          const k = rank[code]!;
          if (k < st.min[g]!) st.min[g] = k;
          if (k > st.max[g]!) st.max[g] = k;
        }
      }
      if (rank) {
        for (let g = 0; g < nGroups; g++) {
          out[g] = st.count[g] === 0 ? null : col.dict[byRank[agg.fn === "min" ? st.min[g]! : st.max[g]!]!];
        }
        continue;
      }
    }
    for (let g = 0; g < nGroups; g++) {
      const n = st.count[g]!;
      switch (agg.fn) {
        case "count":
          out[g] = agg.distinct ? st.distinct[g]!.size : n;
          break;
        case "sum":
          out[g] = n === 0 ? null : st.sum[g];
          break;
        case "avg":
          out[g] = n === 0 ? null : st.sum[g]! / n;
          break;
        case "min":
          out[g] = n === 0 ? null : st.min[g];
          break;
        case "max":
          out[g] = n === 0 ? null : st.max[g];
          break;
      }
    }
  }
  // SQLite emits GROUP BY groups in key order; an empty selection with GROUP BY has no rows
  let order = Array.from({ length: nGroups }, (_, g) => g);
  if (groupCols.length > 0) {
    for (const key of groupKeys) for (const v of key) if (typeof v === "string" && !isAscii(v)) return null;
    order.sort((x, y) => {
      for (let k = 0; k < groupCols.length; k++) {
        const c = compareValues(groupKeys[x]![k], groupKeys[y]![k]);
        if (c) return c;
      }
      return 0;
    });
    if (nSel === 0) order = [];
  }
  const aggIndex = new Map(plan.aggs.map((a, k) => [a, k]));
  const valueOf = (g: number, it: Item): unknown =>
    it.kind === "agg" ? results[aggIndex.get(it.agg!)!]![g] : groupKeys[g]![plan.groupBy.indexOf(it.col!)];
  for (const h of plan.having) {
    order = order.filter((g) => {
      const v = h.agg ? results[aggIndex.get(h.agg)!]![g] : valueOf(g, plan.items[h.out!]!);
      return typeof v === "number" && cmpNum(v, h.op, h.value);
    });
  }
  let out = order.map((g) => plan.items.map((it) => valueOf(g, it)));
  if (plan.orderBy.length) {
    for (const row of out) for (const k of plan.orderBy) if (typeof row[k.out] === "string" && !isAscii(row[k.out] as string)) return null;
    out = out
      .map((row, k) => ({ row, k }))
      .sort((x, y) => {
        for (const key of plan.orderBy) {
          const c = compareValues(x.row[key.out], y.row[key.out]);
          if (c) return key.desc ? -c : c;
        }
        return x.k - y.k;
      })
      .map((x) => x.row);
  }
  out = out.slice(plan.offset, plan.limit === Infinity ? undefined : plan.offset + plan.limit);
  return { names: plan.items.map((it) => it.name), rows: out };
}
