// The columnar fast path's parser/planner: reads a SELECT into a FastPlan over one table or
// an inner equi-join of two, or returns null for anything outside its grammar (see
// columnar.ts), so that SQLite answers. It only accepts shapes whose every part the kernels
// evaluate with SQLite's semantics; when in doubt it refuses (NotFast).
// Kept equal to SQLite by the differential tests that run each query on both engines
// (workers/query/test/query.test.ts "the columnar fast path answers exactly like SQLite",
// workers/query/test/columnar-exact.test.ts) and the fuzz suite over the same path.

import {
  type Agg,
  type AggFn,
  type ColRef,
  type Cond,
  type FastPlan,
  type Having,
  type Item,
  type KeyExpr,
  NotFast,
  type Op,
  type OrderKey,
} from "./columnar-types";
import { type Token, tokenize } from "./sql-tokenizer";

const AGG_FNS = new Set(["count", "sum", "avg", "min", "max"]);
/** Deterministic scalar functions a derived key may use (evaluated by SQLite per distinct value). */
const KEY_FNS = new Set([
  "substr",
  "substring",
  "strftime",
  "date",
  "time",
  "datetime",
  "julianday",
  "unixepoch",
  "upper",
  "lower",
  "trim",
  "ltrim",
  "rtrim",
  "length",
  "replace",
  "instr",
  "coalesce",
  "ifnull",
  "nullif",
  "abs",
  "round",
  "hex",
  "printf",
  "format",
  "concat",
]);
const OPS: Record<string, Op> = {
  "=": "=",
  "==": "=",
  "<>": "<>",
  "!=": "<>",
  "<": "<",
  "<=": "<=",
  ">": ">",
  ">=": ">=",
};
const CLAUSE = new Set([
  "from",
  "where",
  "group",
  "having",
  "order",
  "limit",
  "offset",
  "as",
  "join",
  "inner",
  "left",
  "right",
  "full",
  "cross",
  "natural",
  "outer",
  "on",
  "using",
  "and",
  "or",
  "not",
  "is",
  "in",
  "between",
  "like",
  "glob",
  "by",
  "asc",
  "desc",
  "nulls",
  "union",
  "window",
  "select",
  "distinct",
  "all",
  "case",
  "when",
  "then",
  "else",
  "end",
  "null",
  "collate",
  "intersect",
  "except",
  "exists",
  "values",
]);
/** top-N keeps at most this many rows (limit + offset); larger sorts are SQLite's */
const MAX_TOP = 10_000;

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
  const word = (t: Token | undefined): string =>
    t && t.kind === "word" ? t.value.toLowerCase() : "";
  const expectWord = (w: string) => {
    if (word(peek()) !== w) throw new NotFast();
    i++;
  };
  const isName = (t: Token | undefined) =>
    !!t && (t.kind === "quoted" || (t.kind === "word" && !CLAUSE.has(t.value.toLowerCase())));
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
    const found = schemas.flatMap((s, side) =>
      s.has(lower) ? [{ side, col: s.get(lower)! }] : [],
    );
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
            if (a.kind === "word" && KEY_FNS.has(a.value.toLowerCase()) && peek(1)?.text === "(")
              args.push(render());
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
      item = {
        name: key.fx === null ? key.ref.col : sql.slice(start, last.pos + last.text.length),
        key,
      };
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
      } else if (
        isName(t) &&
        peek(1)?.text !== "(" &&
        peek(1)?.text !== "." &&
        !schemas.some((s) => s.has(t!.value.toLowerCase()))
      ) {
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
  if (grouped)
    for (const it of items)
      if (it.key && !groupBy.some((g) => g.id === it.key!.id)) throw new NotFast();
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
      const key: OrderKey = { desc: false, nullsFirst: true };
      if (t?.kind === "number" && /^[0-9]+$/.test(t.text)) {
        const out = Number(t.text) - 1;
        if (out < 0 || out >= items.length) throw new NotFast();
        key.out = out;
        i++;
      } else {
        // an output alias first, then a column / key expression
        const named =
          isName(t) && peek(1)?.text !== "(" && peek(1)?.text !== "."
            ? items.filter((it) => it.name.toLowerCase() === t!.value.toLowerCase())
            : [];
        // two outputs of that name (`SELECT i, b AS i … ORDER BY i`): SQLite prefers the AS alias; let it decide
        if (named.length > 1) throw new NotFast();
        const byAlias = named.length ? items.indexOf(named[0]!) : -1;
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
    if (join || orderBy.length === 0 || limit === Infinity || limit + offset > MAX_TOP)
      throw new NotFast();
  }
  return {
    tables,
    join,
    items,
    where,
    groupBy,
    having,
    aggs,
    orderBy,
    limit,
    offset,
    mode: grouped ? "aggregate" : "rows",
  };
}

/** The columns each side of the plan reads. */
export function planColumns(plan: FastPlan): Set<string>[] {
  const out = plan.tables.map(() => new Set<string>());
  const add = (r: ColRef) => out[r.side]!.add(r.col);
  for (const w of plan.where) add(w.ref);
  if (plan.join) add(plan.join.left), add(plan.join.right);
  for (const k of plan.groupBy) add(k.ref);
  for (const a of plan.aggs) if (a.arg) add(a.arg.ref);
  for (const it of plan.items) if (it.key) add(it.key.ref);
  for (const o of plan.orderBy) if (o.key) add(o.key.ref);
  return out;
}

/** The derived keys (functions of a text column) the plan needs. */
export function planDerived(plan: FastPlan): KeyExpr[] {
  const all = [
    ...plan.groupBy,
    ...plan.items.flatMap((it) => (it.key ? [it.key] : [])),
    ...plan.aggs.flatMap((a) => (a.arg ? [a.arg] : [])),
    ...plan.orderBy.flatMap((o) => (o.key ? [o.key] : [])),
  ];
  const seen = new Map<string, KeyExpr>();
  for (const k of all) if (k.fx !== null) seen.set(k.id, k);
  return [...seen.values()];
}
