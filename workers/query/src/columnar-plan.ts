// The columnar fast path's parser/planner: reads a SELECT into a FastPlan over one table or
// an inner equi-join of two, or returns null for anything outside its grammar (see
// columnar.ts), so that SQLite answers. It only accepts shapes whose every part the kernels
// evaluate with SQLite's semantics; when in doubt it refuses (NotFast).
// Kept equal to SQLite by the differential tests that run each query on both engines
// (workers/query/test/query.test.ts "the columnar fast path answers exactly like SQLite",
// workers/query/test/columnar-exact.test.ts) and the fuzz suite over the same path.
// The token cursor and the expressions it reads (names, columns, keys, aggregates, literals)
// are columnar-reader.ts; this file owns the clause structure and what makes a plan fast.

import { isName, PlanReader, word } from "./columnar-reader";
import {
  type Agg,
  type ColRef,
  type Cond,
  type FastPlan,
  type Having,
  type Item,
  type KeyExpr,
  NotFast,
  type OrderKey,
} from "./columnar-types";
import { tokenize } from "./sql-tokenizer";

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
  const r = new PlanReader(toks);
  const { aliases, schemas, aggs } = r;
  const peek = (k = 0) => r.peek(k);
  const expectWord = (w: string) => r.expectWord(w);
  const ident = () => r.ident();
  const resolveCol = (qual: string | null, name: string) => r.resolveCol(qual, name);
  const colRefHere = () => r.colRefHere();
  const keyExpr = () => r.keyExpr();
  const aggCall = () => r.aggCall();
  const isAggHere = () => r.isAggHere();
  const literal = () => r.literal();
  const op = () => r.op();

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
  r.i = fromAt + 1;
  const tableItem = () => {
    const name = ident();
    const schema = datasets.get(name); // keyed by the name as written (the engine resolved it)
    if (!schema) throw new NotFast();
    let alias = name;
    if (word(peek()) === "as") {
      r.i++;
      alias = ident();
    } else if (isName(peek())) alias = ident();
    tables.push(name);
    aliases.push(alias.toLowerCase());
    schemas.push(schema);
  };
  tableItem();
  let joinOn: { a: [string | null, string]; b: [string | null, string] } | null = null;
  if (word(peek()) === "inner" || word(peek()) === "join") {
    if (word(peek()) === "inner") r.i++;
    expectWord("join");
    tableItem();
    if (aliases[0] === aliases[1]) throw new NotFast();
    expectWord("on");
    const qref = (): [string | null, string] => {
      const a = ident();
      if (peek()?.text === ".") {
        r.i++;
        return [a, ident()];
      }
      return [null, a];
    };
    const a = qref();
    if (peek()?.text !== "=" && peek()?.text !== "==") throw new NotFast();
    r.i++;
    joinOn = { a, b: qref() };
  }
  const afterFrom = r.i;

  // Pass 2: the select list.
  r.i = 0;
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
      const last = toks[r.i - 1]!;
      item = { name: sql.slice(start, last.pos + last.text.length), agg };
    } else {
      const key = keyExpr();
      const last = toks[r.i - 1]!;
      // SQLite names a plain column reference by the column's declared name, anything else by its text
      item = {
        name: key.fx === null ? key.ref.col : sql.slice(start, last.pos + last.text.length),
        key,
      };
    }
    if (word(peek()) === "as") {
      r.i++;
      item.name = ident();
    } else if (isName(peek())) {
      item.name = ident();
    }
    items.push(item);
    if (peek()?.text === ",") {
      r.i++;
      continue;
    }
    break;
  }
  if (r.i !== fromAt) throw new NotFast();
  r.i = afterFrom;

  const join = joinOn ? { left: resolveCol(...joinOn.a), right: resolveCol(...joinOn.b) } : null;
  if (join && join.left.side === join.right.side) throw new NotFast();

  const where: Cond[] = [];
  if (word(peek()) === "where") {
    r.i++;
    for (;;) {
      const ref = colRefHere();
      if (!ref) throw new NotFast();
      if (word(peek()) === "is") {
        r.i++;
        let not = false;
        if (word(peek()) === "not") {
          not = true;
          r.i++;
        }
        expectWord("null");
        where.push({ ref, isNull: !not });
      } else if (word(peek()) === "isnull" || word(peek()) === "notnull") {
        where.push({ ref, isNull: word(peek()) === "isnull" });
        r.i++;
      } else {
        const o = op();
        where.push({ ref, op: o, value: literal() });
      }
      if (word(peek()) === "and") {
        r.i++;
        continue;
      }
      break;
    }
  }
  const groupBy: KeyExpr[] = [];
  if (word(peek()) === "group") {
    r.i++;
    expectWord("by");
    for (;;) {
      const t = peek();
      let key: KeyExpr;
      if (t?.kind === "number" && /^[0-9]+$/.test(t.text)) {
        const item = items[Number(t.text) - 1];
        if (!item?.key) throw new NotFast();
        key = item.key;
        r.i++;
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
        r.i++;
      } else key = keyExpr();
      groupBy.push(key);
      if (peek()?.text === ",") {
        r.i++;
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
    r.i++;
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
        r.i++;
        continue;
      }
      break;
    }
  }
  const orderBy: OrderKey[] = [];
  if (word(peek()) === "order") {
    r.i++;
    expectWord("by");
    for (;;) {
      const t = peek();
      const key: OrderKey = { desc: false, nullsFirst: true };
      if (t?.kind === "number" && /^[0-9]+$/.test(t.text)) {
        const out = Number(t.text) - 1;
        if (out < 0 || out >= items.length) throw new NotFast();
        key.out = out;
        r.i++;
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
          r.i++;
        } else {
          const k = keyExpr();
          const out = items.findIndex((it) => it.key?.id === k.id);
          if (out >= 0) key.out = out;
          else if (!grouped) key.key = k;
          else throw new NotFast();
        }
      }
      if (word(peek()) === "asc") r.i++;
      else if (word(peek()) === "desc") {
        key.desc = true;
        r.i++;
      }
      key.nullsFirst = !key.desc;
      if (word(peek()) === "nulls") {
        r.i++;
        const w = word(peek());
        if (w !== "first" && w !== "last") throw new NotFast();
        key.nullsFirst = w === "first";
        r.i++;
      }
      if (word(peek()) === "collate") throw new NotFast();
      orderBy.push(key);
      if (peek()?.text === ",") {
        r.i++;
        continue;
      }
      break;
    }
  }
  let limit = Infinity;
  let offset = 0;
  if (word(peek()) === "limit") {
    r.i++;
    const t = peek();
    if (t?.kind !== "number" || !/^[0-9]+$/.test(t.text)) throw new NotFast();
    limit = Number(t.text);
    r.i++;
    if (word(peek()) === "offset") {
      r.i++;
      const o = peek();
      if (o?.kind !== "number" || !/^[0-9]+$/.test(o.text)) throw new NotFast();
      offset = Number(o.text);
      r.i++;
    }
  }
  if (r.i !== toks.length) throw new NotFast();
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
