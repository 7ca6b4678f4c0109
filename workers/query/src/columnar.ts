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
import { tokenize, type Token } from "./guard";

type Op = "=" | "<>" | "<" | "<=" | ">" | ">=";
type AggFn = "count" | "sum" | "avg" | "min" | "max";

/** A column of one of the query's tables (side 0: the FROM table, 1: the joined one). */
interface ColRef {
  side: number;
  col: string;
}

/** A grouping / output / aggregated value: a column, or a function of one text column. */
export interface KeyExpr {
  ref: ColRef;
  /** SQL over `value` (the column's value), evaluated per dictionary entry; null for the plain column */
  fx: string | null;
  /** identity for matching GROUP BY against select items */
  id: string;
}

interface Agg {
  fn: AggFn;
  arg: KeyExpr | null; // null: count(*)
  distinct: boolean;
  id: string;
}

interface Item {
  name: string;
  key?: KeyExpr;
  agg?: Agg;
}

type Cond = { ref: ColRef; op: Op; value: number | string } | { ref: ColRef; isNull: boolean };

interface Having {
  agg: Agg;
  op: Op;
  value: number;
}

interface OrderKey {
  /** an output column, or (top-N only) a key that is not selected */
  out?: number;
  key?: KeyExpr;
  desc: boolean;
  nullsFirst: boolean;
}

export interface FastPlan {
  /** the tables as written (resolved by the engine), side 0 then side 1 */
  tables: string[];
  join: { left: ColRef; right: ColRef } | null;
  items: Item[];
  where: Cond[];
  groupBy: KeyExpr[];
  having: Having[];
  aggs: Agg[];
  orderBy: OrderKey[];
  limit: number;
  offset: number;
  /** aggregate (with or without GROUP BY) or top-N rows */
  mode: "aggregate" | "rows";
}

type CodeArray = Uint8Array | Uint16Array | Uint32Array;

export type Column =
  | { kind: "num"; values: Float64Array | Int32Array; nulls: Uint8Array | null; integer: boolean; bytes: number }
  | { kind: "str"; codes: CodeArray; dict: (string | null)[]; ascii: boolean; bytes: number };

/** A function of a text column, per dictionary entry: old code → new code, and the new codes' values (code 0 may be any value). */
export interface Derived {
  remap: Int32Array;
  values: unknown[];
  bytes: number;
}

/** The columns of one table side, by declared name. */
export interface Side {
  rows: number;
  cols: Map<string, Column>;
}

const AGG_FNS = new Set(["count", "sum", "avg", "min", "max"]);
/** Deterministic scalar functions a derived key may use (evaluated by SQLite per distinct value). */
const KEY_FNS = new Set([
  "substr", "substring", "strftime", "date", "time", "datetime", "julianday", "unixepoch", "upper", "lower", "trim", "ltrim",
  "rtrim", "length", "replace", "instr", "coalesce", "ifnull", "nullif", "abs", "round", "hex", "printf", "format", "concat",
]);
const OPS: Record<string, Op> = { "=": "=", "==": "=", "<>": "<>", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">=" };
const CLAUSE = new Set([
  "from", "where", "group", "having", "order", "limit", "offset", "as", "join", "inner", "left", "right", "full", "cross", "natural",
  "outer", "on", "using", "and", "or", "not", "is", "in", "between", "like", "glob", "by", "asc", "desc", "nulls", "union", "window",
  "select", "distinct", "all", "case", "when", "then", "else", "end", "null", "collate", "intersect", "except", "exists", "values",
]);
/** top-N keeps at most this many rows (limit + offset); larger sorts are SQLite's */
const MAX_TOP = 10_000;
const BLOCK = 65_536;
/** more groups than this (memory per group) and SQLite answers */
const MAX_GROUPS = 200_000;
/** a join producing more row pairs than this is SQLite's (its time is bounded there by steps and timeouts) */
const MAX_JOIN_PAIRS = 20_000_000;

class NotFast extends Error {}

/**
 * Parses `sql` into a plan over one or two tables' columns (`datasets`: table name as
 * written → (lower-case column → declared name)), or null when SQLite must answer.
 */
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
  const isName = (t: Token | undefined) => !!t && (t.kind === "quoted" || (t.kind === "word" && !CLAUSE.has(t.value.toLowerCase())));
  const ident = (): string => {
    const t = peek();
    if (!isName(t)) throw new NotFast();
    i++;
    return t!.value;
  };

  // Pass 1: the FROM clause (select items refer to its tables). Find FROM at depth 0.
  let depth = 0;
  let fromAt = -1;
  for (let k = 0; k < toks.length; k++) {
    const t = toks[k]!;
    if (t.text === "(") depth++;
    else if (t.text === ")") depth--;
    else if (depth === 0 && word(t) === "from") {
      fromAt = k;
      break;
    }
  }
  if (fromAt < 0) throw new NotFast();
  const tables: string[] = [];
  const aliases: string[] = [];
  const schemas: Map<string, string>[] = [];
  i = fromAt + 1;
  const tableItem = () => {
    const name = ident();
    const schema = datasets.get(name); // keyed by the name as written (the engine resolved it)
    if (!schema) throw new NotFast();
    let alias = name;
    if (word(peek()) === "as") {
      i++;
      alias = ident();
    } else if (isName(peek())) alias = ident();
    tables.push(name);
    aliases.push(alias.toLowerCase());
    schemas.push(schema);
  };
  tableItem();
  let joinOn: { a: [string | null, string]; b: [string | null, string] } | null = null;
  if (word(peek()) === "inner" || word(peek()) === "join") {
    if (word(peek()) === "inner") i++;
    expectWord("join");
    tableItem();
    if (aliases[0] === aliases[1]) throw new NotFast();
    expectWord("on");
    const qref = (): [string | null, string] => {
      const a = ident();
      if (peek()?.text === ".") {
        i++;
        return [a, ident()];
      }
      return [null, a];
    };
    const a = qref();
    if (peek()?.text !== "=" && peek()?.text !== "==") throw new NotFast();
    i++;
    joinOn = { a, b: qref() };
  }
  const afterFrom = i;

  const resolveCol = (qual: string | null, name: string): ColRef => {
    const lower = name.toLowerCase();
    if (qual !== null) {
      const side = aliases.indexOf(qual.toLowerCase());
      if (side < 0) throw new NotFast();
      const col = schemas[side]!.get(lower);
      if (!col) throw new NotFast(); // SQLite names the unknown column
      return { side, col };
    }
    const found = schemas.flatMap((s, side) => (s.has(lower) ? [{ side, col: s.get(lower)! }] : []));
    if (found.length !== 1) throw new NotFast(); // unknown or ambiguous: SQLite says which
    return found[0]!;
  };
  /** `[t.]col`, when the tokens at i are one (consumed), else null */
  const colRefHere = (): ColRef | null => {
    const t = peek();
    if (!isName(t)) return null;
    if (peek(1)?.text === "(") return null;
    if (peek(1)?.text === ".") {
      if (!isName(peek(2))) throw new NotFast();
      i += 3;
      return resolveCol(t!.value, toks[i - 1]!.value);
    }
    i++;
    return resolveCol(null, t!.value);
  };
  /** key := col | fn(arg, ...) with exactly one column reference among the args */
  const keyExpr = (): KeyExpr => {
    const t = peek();
    if (t?.kind === "word" && KEY_FNS.has(t.value.toLowerCase()) && peek(1)?.text === "(") {
      let ref: ColRef | null = null;
      const render = (): string => {
        const f = peek()!;
        const fn = f.value.toLowerCase();
        i += 2;
        const args: string[] = [];
        if (peek()?.text !== ")") {
          for (;;) {
            const a = peek();
            if (!a) throw new NotFast();
            if (a.kind === "word" && KEY_FNS.has(a.value.toLowerCase()) && peek(1)?.text === "(") args.push(render());
            else if (a.kind === "string") {
              if (/^\s*now\s*$/i.test(a.value)) throw new NotFast(); // not deterministic
              args.push(a.text);
              i++;
            } else if (a.kind === "number" || (a.text === "-" && peek(1)?.kind === "number")) {
              const neg = a.text === "-";
              if (neg) i++;
              const n = peek()!;
              if (!/^[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?$/.test(n.text)) throw new NotFast();
              args.push((neg ? "-" : "") + n.text);
              i++;
            } else {
              const c = colRefHere();
              if (!c || ref) throw new NotFast();
              ref = c;
              args.push("value");
            }
            if (peek()?.text === ",") {
              i++;
              continue;
            }
            break;
          }
        }
        if (peek()?.text !== ")") throw new NotFast();
        i++;
        return `${fn}(${args.join(", ")})`;
      };
      const fx = render();
      if (!ref) throw new NotFast();
      const r = ref as ColRef;
      return { ref: r, fx, id: `${r.side}|${r.col}|${fx}` };
    }
    const ref = colRefHere();
    if (!ref) throw new NotFast();
    return { ref, fx: null, id: `${ref.side}|${ref.col}|` };
  };
  const aggs: Agg[] = [];
  const aggCall = (): Agg => {
    const fn = peek()!.value.toLowerCase() as AggFn;
    i += 2;
    let distinct = false;
    let arg: KeyExpr | null = null;
    if (peek()?.text === "*") {
      if (fn !== "count") throw new NotFast();
      i++;
    } else {
      if (word(peek()) === "distinct") {
        if (fn !== "count") throw new NotFast();
        distinct = true;
        i++;
      }
      arg = keyExpr();
    }
    if (peek()?.text !== ")") throw new NotFast();
    i++;
    const id = `${fn}|${distinct ? "d" : ""}|${arg?.id ?? "*"}`;
    let found = aggs.find((x) => x.id === id);
    if (!found) {
      found = { fn, arg, distinct, id };
      aggs.push(found);
    }
    return found;
  };
  const isAggHere = () => {
    const t = peek();
    return t?.kind === "word" && AGG_FNS.has(t.value.toLowerCase()) && peek(1)?.text === "(";
  };

  // Pass 2: the select list.
  i = 0;
  expectWord("select");
  if (word(peek()) === "distinct" || word(peek()) === "all") throw new NotFast();
  const items: Item[] = [];
  for (;;) {
    const first = peek();
    if (!first || peek()?.text === "*") throw new NotFast();
    const start = first.pos;
    let item: Item;
    if (isAggHere()) {
      const agg = aggCall();
      const last = toks[i - 1]!;
      item = { name: sql.slice(start, last.pos + last.text.length), agg };
    } else {
      const key = keyExpr();
      const last = toks[i - 1]!;
      // SQLite names a plain column reference by the column's declared name, anything else by its text
      item = { name: key.fx === null ? key.ref.col : sql.slice(start, last.pos + last.text.length), key };
    }
    if (word(peek()) === "as") {
      i++;
      item.name = ident();
    } else if (isName(peek())) {
      item.name = ident();
    }
    items.push(item);
    if (peek()?.text === ",") {
      i++;
      continue;
    }
    break;
  }
  if (i !== fromAt) throw new NotFast();
  i = afterFrom;

  const join = joinOn ? { left: resolveCol(...joinOn.a), right: resolveCol(...joinOn.b) } : null;
  if (join && join.left.side === join.right.side) throw new NotFast();

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
      const ref = colRefHere();
      if (!ref) throw new NotFast();
      if (word(peek()) === "is") {
        i++;
        let not = false;
        if (word(peek()) === "not") {
          not = true;
          i++;
        }
        expectWord("null");
        where.push({ ref, isNull: !not });
      } else if (word(peek()) === "isnull" || word(peek()) === "notnull") {
        where.push({ ref, isNull: word(peek()) === "isnull" });
        i++;
      } else {
        const o = op();
        where.push({ ref, op: o, value: literal() });
      }
      if (word(peek()) === "and") {
        i++;
        continue;
      }
      break;
    }
  }
  const groupBy: KeyExpr[] = [];
  if (word(peek()) === "group") {
    i++;
    expectWord("by");
    for (;;) {
      const t = peek();
      let key: KeyExpr;
      if (t?.kind === "number" && /^[0-9]+$/.test(t.text)) {
        const item = items[Number(t.text) - 1];
        if (!item?.key) throw new NotFast();
        key = item.key;
        i++;
      } else if (isName(t) && peek(1)?.text !== "(" && peek(1)?.text !== "." && !schemas.some((s) => s.has(t!.value.toLowerCase()))) {
        // not a column: a select alias (SQLite resolves GROUP BY names against columns first)
        const item = items.find((it) => it.name.toLowerCase() === t!.value.toLowerCase());
        if (!item?.key) throw new NotFast();
        key = item.key;
        i++;
      } else key = keyExpr();
      groupBy.push(key);
      if (peek()?.text === ",") {
        i++;
        continue;
      }
      break;
    }
  }
  const grouped = groupBy.length > 0 || aggs.length > 0;
  // every selected key must be grouped (SQLite allows bare columns; their value is then one of the group's)
  if (grouped) for (const it of items) if (it.key && !groupBy.some((g) => g.id === it.key!.id)) throw new NotFast();
  const having: Having[] = [];
  if (word(peek()) === "having") {
    if (groupBy.length === 0) throw new NotFast();
    i++;
    for (;;) {
      let agg: Agg;
      if (isAggHere()) agg = aggCall();
      else {
        const name = ident();
        const it = items.find((x) => x.name.toLowerCase() === name.toLowerCase() && x.agg);
        if (!it || schemas.some((s) => s.has(name.toLowerCase()))) throw new NotFast();
        agg = it.agg!;
      }
      const o = op();
      const v = literal();
      if (typeof v !== "number") throw new NotFast();
      having.push({ agg, op: o, value: v });
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
      let key: OrderKey = { desc: false, nullsFirst: true };
      if (t?.kind === "number" && /^[0-9]+$/.test(t.text)) {
        const out = Number(t.text) - 1;
        if (out < 0 || out >= items.length) throw new NotFast();
        key.out = out;
        i++;
      } else {
        // an output alias first, then a column / key expression
        const byAlias = isName(t) && peek(1)?.text !== "(" && peek(1)?.text !== "." ? items.findIndex((it) => it.name.toLowerCase() === t!.value.toLowerCase()) : -1;
        if (byAlias >= 0) {
          key.out = byAlias;
          i++;
        } else {
          const k = keyExpr();
          const out = items.findIndex((it) => it.key?.id === k.id);
          if (out >= 0) key.out = out;
          else if (!grouped) key.key = k;
          else throw new NotFast();
        }
      }
      if (word(peek()) === "asc") i++;
      else if (word(peek()) === "desc") {
        key.desc = true;
        i++;
      }
      key.nullsFirst = !key.desc;
      if (word(peek()) === "nulls") {
        i++;
        const w = word(peek());
        if (w !== "first" && w !== "last") throw new NotFast();
        key.nullsFirst = w === "first";
        i++;
      }
      if (word(peek()) === "collate") throw new NotFast();
      orderBy.push(key);
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
  if (!grouped) {
    // rows without aggregates: only a bounded top-N over one table
    if (join || orderBy.length === 0 || limit === Infinity || limit + offset > MAX_TOP) throw new NotFast();
  }
  return { tables, join, items, where, groupBy, having, aggs, orderBy, limit, offset, mode: grouped ? "aggregate" : "rows" };
}

/** The columns each side of the plan reads. */
export function planColumns(plan: FastPlan): Set<string>[] {
  const out = plan.tables.map(() => new Set<string>());
  const add = (r: ColRef) => out[r.side]!.add(r.col);
  for (const w of plan.where) add(w.ref);
  if (plan.join) (add(plan.join.left), add(plan.join.right));
  for (const k of plan.groupBy) add(k.ref);
  for (const a of plan.aggs) if (a.arg) add(a.arg.ref);
  for (const it of plan.items) if (it.key) add(it.key.ref);
  for (const o of plan.orderBy) if (o.key) add(o.key.ref);
  return out;
}

/** The derived keys (functions of a text column) the plan needs. */
export function planDerived(plan: FastPlan): KeyExpr[] {
  const all = [...plan.groupBy, ...plan.items.flatMap((it) => (it.key ? [it.key] : [])), ...plan.aggs.flatMap((a) => (a.arg ? [a.arg] : [])), ...plan.orderBy.flatMap((o) => (o.key ? [o.key] : []))];
  const seen = new Map<string, KeyExpr>();
  for (const k of all) if (k.fx !== null) seen.set(k.id, k);
  return [...seen.values()];
}

function isAscii(s: string): boolean {
  for (let k = 0; k < s.length; k++) if (s.charCodeAt(k) > 0x7f) return false;
  return true;
}

/**
 * Reads one column of a physical table into a typed column (numbers or dictionary codes); null
 * when SQLite must answer — also as soon as it would take more than `maxBytes` (a text column
 * with many distinct values grows its dictionary while it is read).
 */
export function readColumn(sql: SqlStorage, physical: string, name: string, numeric: boolean, rows: number, maxBytes = Infinity): Column | null {
  if (rows * 4 > maxBytes) return null;
  const cursor = sql.exec(`SELECT "${name.replaceAll('"', '""')}" FROM "${physical.replaceAll('"', '""')}"`);
  if (numeric) {
    // int32 while every value fits (half the memory of doubles), doubles from the first that does not
    let ints: Int32Array | null = new Int32Array(rows);
    let doubles: Float64Array | null = null;
    let nulls: Uint8Array | null = null;
    let integer = true;
    let r = 0;
    for (const [v] of cursor.raw()) {
      if (r >= rows) return null;
      if (typeof v === "number") {
        if (!Number.isInteger(v)) integer = false;
        // an integer past 2^53 reads back as the nearest double: two such values may be one here, not in SQLite
        else if (Math.abs(v) > Number.MAX_SAFE_INTEGER) return null;
        if (ints) {
          if (v === (v | 0) && !Object.is(v, -0)) ints[r] = v;
          else {
            if (rows * 8 > maxBytes) return null;
            doubles = Float64Array.from(ints);
            ints = null;
            doubles[r] = v;
          }
        } else doubles![r] = v;
      } else if (v === null) {
        nulls ??= new Uint8Array(rows);
        nulls[r] = 1;
      } else return null; // text in a numeric column (an int64 beyond 2^53): SQLite answers
      r++;
    }
    if (r !== rows) return null;
    if (ints) return { kind: "num", values: ints, nulls, integer, bytes: rows * 4 + (nulls ? rows : 0) };
    return { kind: "num", values: doubles!, nulls, integer, bytes: rows * 8 + (nulls ? rows : 0) };
  }
  let codes: CodeArray = new Uint8Array(rows);
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
        if (rows * codes.BYTES_PER_ELEMENT + dictBytes > maxBytes) return null;
        if (ascii && !isAscii(v)) ascii = false;
        // widen the codes when the dictionary outgrows them
        if (c === 256 && codes instanceof Uint8Array) codes = Uint16Array.from(codes);
        else if (c === 65_536 && codes instanceof Uint16Array) codes = Uint32Array.from(codes);
        if (rows * codes.BYTES_PER_ELEMENT + dictBytes > maxBytes) return null;
      }
      codes[r] = c;
    } else return null; // a number in a text column: SQLite answers
    r++;
  }
  if (r !== rows) return null;
  return { kind: "str", codes, dict, ascii, bytes: rows * codes.BYTES_PER_ELEMENT + dictBytes };
}

/**
 * Evaluates a derived key (`fx`: SQL over `value`) once per dictionary entry with the
 * engine's SQLite (so its semantics are SQLite's own), deduplicating the results.
 */
export function deriveDictionary(sql: SqlStorage, fx: string, dict: (string | null)[]): Derived {
  const remap = new Int32Array(dict.length);
  const values: unknown[] = [];
  const index = new Map<string, number>();
  let bytes = dict.length * 4;
  const codeOf = (v: unknown): number => {
    const k = v === null ? "n" : typeof v === "number" ? `#${v}` : typeof v === "string" ? `s${v}` : null;
    if (k === null) throw new NotFast(); // a blob: SQLite answers
    let c = index.get(k);
    if (c === undefined) {
      c = values.length;
      values.push(v);
      index.set(k, c);
      bytes += typeof v === "string" ? 2 * v.length + 48 : 16;
    }
    return c;
  };
  // bound JSON texts stay under Durable Object SQLite's 2 MB string limit
  let start = 0;
  while (start < dict.length) {
    let end = start;
    let chars = 2;
    while (end < dict.length && (end === start || chars < 1_000_000)) {
      chars += (dict[end]?.length ?? 4) + 8;
      end++;
    }
    const chunk = JSON.stringify(dict.slice(start, end));
    const cursor = sql.exec(`SELECT key, ${fx} FROM json_each(?)`, chunk);
    for (const [k, v] of cursor.raw()) remap[start + (k as number)] = codeOf(v);
    start = end;
  }
  return { remap, values, bytes };
}

// --- running a plan ---

/** A key as the scan reads it: numbers per row, or a code per row (through a remap) into values. */
type ScanKey =
  | { kind: "num"; side: number; values: Float64Array | Int32Array; nulls: Uint8Array | null; integer: boolean }
  | { kind: "dict"; side: number; codes: CodeArray; remap: Int32Array | null; values: unknown[] };

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

class Bail extends Error {}

function asciiOrBail(v: unknown): void {
  if (typeof v === "string" && !isAscii(v)) throw new Bail();
}

/**
 * Filters rows [from, to) of a side by its conditions into `sel` (row ids); returns how many.
 * Each condition is a tight loop over a typed array (text: a pass/fail table per code).
 */
function filterBlock(conds: ((sel: Uint32Array, n: number) => number)[], from: number, to: number, sel: Uint32Array): number {
  let n = 0;
  for (let r = from; r < to; r++) sel[n++] = r;
  for (const c of conds) {
    n = c(sel, n);
    if (n === 0) break;
  }
  return n;
}

function numFilter(values: Float64Array | Int32Array, nulls: Uint8Array | null, op: Op, v: number): (sel: Uint32Array, n: number) => number {
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

function nullFilter(nulls: Uint8Array | null, wantNull: boolean): (sel: Uint32Array, n: number) => number {
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
function sideFilters(plan: FastPlan, side: number, cols: Map<string, Column>): ((sel: Uint32Array, n: number) => number)[] | null {
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
      for (let c = 1; c < col.dict.length; c++) pass[c] = cmpStr(col.dict[c]!, cond.op, cond.value) ? 1 : 0;
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

function makeAgg(agg: Agg, key: ScanKey | null, singleGroup: boolean): AggRun {
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
    // Kahan–Babuška–Neumaier over doubles, as SQLite's sum(); integers stay exact below 2^53
    const sum = new Grow(0);
    const comp = new Grow(0);
    let integer = key.kind === "num" && key.integer;
    let dictValues: Float64Array | null = null;
    if (key.kind === "dict") {
      integer = true;
      dictValues = new Float64Array(key.values.length);
      key.values.forEach((v, c) => {
        if (v === null) return;
        if (typeof v !== "number") throw new Bail(); // sum over text: SQLite's conversion rules
        if (!Number.isInteger(v)) integer = false;
        dictValues![c] = v;
      });
    }
    if (key.kind === "num" && integer) {
      // integers: a plain sum is exact below 2^53 (checked at the end); the common case, kept tight
      const { values, nulls, side } = key;
      return {
        update(rows, gid, m, nGroups) {
          const c = count.ensure(nGroups);
          const sm = sum.ensure(nGroups);
          const rs = rows[side]!;
          if (singleGroup && !nulls) {
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
            sm[g]! += values[r]!;
          }
        },
        result: (g) => {
          const n = count.a[g] ?? 0;
          if (n === 0) return null;
          const total = sum.a[g]!;
          if (Math.abs(total) > Number.MAX_SAFE_INTEGER) throw new Bail(); // SQLite's exact int64
          return agg.fn === "sum" ? total : total / n;
        },
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
          if (integer) sm[g]! += v;
          else {
            const t = sm[g]! + v;
            if (Math.abs(sm[g]!) >= Math.abs(v)) cp[g]! += sm[g]! - t + v;
            else cp[g]! += v - t + sm[g]!;
            sm[g] = t;
          }
        }
      },
      result: (g) => {
        const n = count.a[g] ?? 0;
        if (n === 0) return null;
        const total = sum.a[g]! + comp.a[g]!;
        if (integer && Math.abs(total) > Number.MAX_SAFE_INTEGER) throw new Bail(); // SQLite's exact int64
        return agg.fn === "sum" ? total : total / n;
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
  order.forEach((c, k) => (rank[c] = k));
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
function scanKey(k: KeyExpr, sides: Side[], derived: Map<string, Derived>): ScanKey {
  const col = sides[k.ref.side]!.cols.get(k.ref.col)!;
  if (k.fx !== null) {
    if (col.kind !== "str") throw new Bail();
    const d = derived.get(k.id);
    if (!d) throw new Bail();
    return { kind: "dict", side: k.ref.side, codes: col.codes, remap: d.remap, values: d.values };
  }
  if (col.kind === "num") return { kind: "num", side: k.ref.side, values: col.values, nulls: col.nulls, integer: col.integer };
  return { kind: "dict", side: k.ref.side, codes: col.codes, remap: null, values: col.dict };
}

function valueAt(key: ScanKey, r: number): unknown {
  if (key.kind === "num") return key.nulls && key.nulls[r] ? null : key.values[r]!;
  return key.values[key.remap ? key.remap[key.codes[r]!]! : key.codes[r]!];
}

/**
 * Feeds the plan's tuples to `sink` in blocks: row ids per side (`rows[side][0..m)`). One
 * table: the filtered rows. A join: the probe side's filtered rows, each with every build-side
 * row (filtered) whose key equals its key.
 */
function scan(plan: FastPlan, sides: Side[], sink: (rows: Uint32Array[], m: number) => void): void {
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
  const bsel = new Uint32Array(Math.max(1, b.rows));
  const bn = filterBlock(filters[build]!, 0, b.rows, bsel);
  const byKey = new Map<string | number, number[]>();
  for (let s = 0; s < bn; s++) {
    const r = bsel[s]!;
    let k: string | number | null;
    if (buildCol.kind === "num") k = buildCol.nulls && buildCol.nulls[r] ? null : buildCol.values[r]!;
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
    const matches: (number[] | undefined)[] = probeCol.dict.map((v) => (v === null ? undefined : byKey.get(v)));
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

/**
 * Runs a plan over the columns it needs (`sides[k].cols`: declared name → column; `derived`:
 * KeyExpr.id → its dictionary map). Returns the output column names and rows, or null when
 * the data needs SQLite after all.
 */
export function runFast(plan: FastPlan, sides: Side[], derived: Map<string, Derived>): { names: string[]; rows: unknown[][] } | null {
  try {
    return plan.mode === "rows" ? runTop(plan, sides, derived) : runAggregate(plan, sides, derived);
  } catch (err) {
    if (err instanceof Bail || err instanceof NotFast) return null;
    throw err;
  }
}

function runAggregate(plan: FastPlan, sides: Side[], derived: Map<string, Derived>): { names: string[]; rows: unknown[][] } {
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
  const runs = plan.aggs.map((a) => makeAgg(a, a.arg ? scanKey(a.arg, sides, derived) : null, singleGroup));
  const gid = new Int32Array(BLOCK);
  let tuples = 0;
  scan(plan, sides, (rows, m) => {
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
  const valueOf = (g: number, it: Item): unknown =>
    it.agg ? resultOf(it.agg, g) : keyValues[g]![plan.groupBy.findIndex((k) => k.id === it.key!.id)];
  for (const h of plan.having) {
    order = order.filter((g) => {
      const v = resultOf(h.agg, g);
      return typeof v === "number" && cmpNum(v, h.op, h.value);
    });
  }
  let out = order.map((g) => plan.items.map((it) => valueOf(g, it)));
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

function orderCompare(a: unknown, b: unknown, key: OrderKey): number {
  if (a === null || b === null) {
    if (a === b) return 0;
    return (a === null) === key.nullsFirst ? -1 : 1;
  }
  const c = compareValues(a, b);
  return key.desc ? -c : c;
}

/** ORDER BY … LIMIT n over rows (no aggregates): keeps the best n + offset rows while scanning. */
function runTop(plan: FastPlan, sides: Side[], derived: Map<string, Derived>): { names: string[]; rows: unknown[][] } {
  const itemKeys = plan.items.map((it) => scanKey(it.key!, sides, derived));
  // each ORDER BY key as a number per row: numbers as they are, codes by the rank of their value
  interface Ranked {
    num: Float64Array | Int32Array | null;
    nulls: Uint8Array | null;
    codes: CodeArray | null;
    rank: Float64Array | null;
    sign: number;
    nullRank: number;
  }
  const ranked: Ranked[] = plan.orderBy.map((o) => {
    const k = o.key ? scanKey(o.key, sides, derived) : itemKeys[o.out!]!;
    const sign = o.desc ? -1 : 1;
    // NULLs first (or last) whatever the direction: compared as -Infinity / +Infinity after the sign
    const nullRank = o.nullsFirst ? -Infinity : Infinity;
    if (k.kind === "num") return { num: k.values, nulls: k.nulls, codes: null, rank: null, sign, nullRank };
    const codesCount = k.remap ? k.remap.length : k.values.length;
    const order = k.values.map((_, c) => c).filter((c) => k.values[c] !== null);
    for (const c of order) asciiOrBail(k.values[c]);
    order.sort((x, y) => compareValues(k.values[x], k.values[y]));
    const valueRank = new Float64Array(k.values.length).fill(NaN);
    order.forEach((c, r) => (valueRank[c] = r));
    const rank = new Float64Array(codesCount);
    for (let c = 0; c < codesCount; c++) rank[c] = valueRank[k.remap ? k.remap[c]! : c]!; // NaN: NULL
    return { num: null, nulls: null, codes: k.codes, rank, sign, nullRank };
  });
  const keyOf = (k: Ranked, r: number): number => {
    if (k.num) return k.nulls && k.nulls[r] ? k.nullRank : k.sign * k.num[r]!;
    const v = k.rank![k.codes![r]!]!;
    return Number.isNaN(v) ? k.nullRank : k.sign * v;
  };
  const cmpRows = (a: number, b: number): number => {
    for (const k of ranked) {
      const x = keyOf(k, a);
      const y = keyOf(k, b);
      if (x !== y) return x < y ? -1 : 1;
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
    scan(plan, sides, (rows, m) => {
      const rs = rows[0]!;
      for (let s = 0; s < m; s++) {
        const r = rs[s]!;
        if (heap.length === want) {
          // most rows lose on the first key alone
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
