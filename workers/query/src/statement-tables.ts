// The tables a statement reads and what its CTEs and FROM subqueries say about their rows:
// FROM / JOIN / comma-list / `IN table` items (also nested), CTE scopes, recursive CTEs, a
// literal LIMIT or a one-row aggregate in a body (facts the join estimate counts).
// Rule: a name in scope as a CTE is never a table, and what may never be read (schema prefixes,
// table functions other than json_each / json_tree, reserved names) is refused with a 400.
import { bad, isName, RESERVED_PREFIXES, type Token } from "./sql-tokenizer";

/** A table the statement reads (FROM / JOIN / comma list / `IN table`), not a CTE, not a table function. */
export interface TableRef {
  /** the name as written, quotes removed (case kept): resolved against catalog dataset names */
  name: string;
  /** character span of the name in `sql` (the engine replaces it with its physical table) */
  from: number;
  to: number;
  /** an alias follows (`people p`, `people AS p`), or the position takes none (`x IN people`) */
  aliased: boolean;
  /** the alias, when one follows */
  alias?: string;
}

/** A recursive CTE and the LIMIT (a literal) in its own body, if any. */
export interface RecursiveCte {
  name: string;
  limit: number | null;
}

/**
 * A row source that is not a dataset: a CTE (by its name) or a FROM subquery (by its alias), with
 * what its own body says about its rows — the join estimate (join-budget.ts) counts its scans.
 */
export interface DerivedSource {
  kind: "cte" | "subquery";
  name: string;
  /** the literal LIMIT at the top level of its body (`LIMIT n`, `LIMIT m, n`), if any */
  limit: number | null;
  /** an aggregate without GROUP BY (`SELECT count(*) FROM t`): one row */
  single: boolean;
}

/** Where a CTE is read as a table: the name SQLite's plan shows (the alias, else the CTE's name) and the CTE. */
export interface CteRef {
  alias: string;
  cte: string;
}

/** Table-valued functions a query may read from (they read their arguments, not the database). */
const TABLE_FUNCTIONS = new Set(["json_each", "json_tree"]);
/** Words that may follow a table name and are not an alias. */
const NOT_ALIAS = new Set([
  "on",
  "using",
  "where",
  "group",
  "having",
  "order",
  "limit",
  "window",
  "union",
  "intersect",
  "except",
  "join",
  "left",
  "right",
  "full",
  "inner",
  "cross",
  "natural",
  "outer",
  "indexed",
  "not",
  "returning",
  "and",
  "or",
  "then",
  "else",
  "end",
  "when",
  "is",
  "in",
  "between",
  "like",
  "glob",
  "match",
  "regexp",
  "collate",
  "escape",
  "isnull",
  "notnull",
  "offset",
  "asc",
  "desc",
  "nulls",
  "from",
  "select",
  "values",
]);
/** Aggregate functions: one of these at the top level of a body without GROUP BY makes one row. */
const AGGREGATES = new Set([
  "count",
  "sum",
  "total",
  "avg",
  "min",
  "max",
  "group_concat",
  "string_agg",
  "json_group_array",
  "json_group_object",
  "jsonb_group_array",
  "jsonb_group_object",
]);
/** Words that end a FROM clause at their parenthesis depth. */
const END_FROM = new Set([
  "where",
  "group",
  "having",
  "order",
  "limit",
  "window",
  "union",
  "intersect",
  "except",
  "select",
  "values",
]);

/**
 * Resolves, from the tokens, every table the statement reads: the items of FROM clauses
 * (also in subqueries, CTE bodies and parenthesized joins), JOIN operands and `IN table`;
 * a name in scope as a CTE is not a table. Any spelling counts: bare, "quoted", [bracketed],
 * `backticked`, 'string literal'. Throws a 400 for what may never be read: a schema prefix
 * (main., temp.), a table function other than json_each / json_tree (pragma_*), reserved
 * names (_lh_*, sqlite_*, _cf_*).
 */
export function tableReferences(body: Token[]): {
  tables: TableRef[];
  recursive: RecursiveCte[];
  derived: DerivedSource[];
  cteRefs: CteRef[];
} {
  // matching parentheses, and the innermost open parenthesis around each token (-1: none)
  const match = new Array<number>(body.length).fill(-1);
  const enclosing = new Array<number>(body.length).fill(-1);
  const stack: number[] = [];
  for (let k = 0; k < body.length; k++) {
    enclosing[k] = stack.length ? stack[stack.length - 1]! : -1;
    const t = body[k]!.text;
    if (body[k]!.kind !== "punct") continue;
    if (t === "(") stack.push(k);
    else if (t === ")") {
      const open = stack.pop();
      if (open === undefined) throw bad(`sql: unbalanced ')' at offset ${body[k]!.pos}`);
      match[open] = k;
      match[k] = open;
      enclosing[k] = stack.length ? stack[stack.length - 1]! : -1;
    }
  }
  if (stack.length)
    throw bad(`sql: unbalanced '(' at offset ${body[stack[stack.length - 1]!]!.pos}`);
  const word = (k: number): string =>
    body[k]?.kind === "word" ? body[k]!.value.toLowerCase() : "";
  const scopeEnd = (k: number): number =>
    enclosing[k]! === -1 ? body.length : match[enclosing[k]!]!;

  // CTEs: name, body range, and the token range in which the name is in scope
  interface Cte {
    name: string;
    open: number;
    close: number;
    scopeFrom: number;
    scopeTo: number;
  }
  const ctes: Cte[] = [];
  for (let k = 0; k < body.length; k++) {
    if (word(k) !== "with") continue;
    let j = k + 1;
    if (word(j) === "recursive") j++;
    const found: Cte[] = [];
    for (;;) {
      if (!isName(body[j])) break;
      const name = body[j]!.value;
      j++;
      if (body[j]?.text === "(" && match[j]! > j) j = match[j]! + 1;
      if (word(j) !== "as") break;
      j++;
      if (word(j) === "not") j++;
      if (word(j) === "materialized") j++;
      if (body[j]?.text !== "(" || match[j]! < j) break;
      found.push({ name, open: j, close: match[j]!, scopeFrom: k, scopeTo: scopeEnd(k) });
      j = match[j]! + 1;
      if (body[j]?.text !== ",") break;
      j++;
    }
    ctes.push(...found);
  }
  const cteAt = (name: string, k: number): Cte | undefined => {
    const lower = name.toLowerCase();
    let best: Cte | undefined;
    for (const c of ctes) {
      if (
        c.name.toLowerCase() === lower &&
        k > c.scopeFrom &&
        k < c.scopeTo &&
        (!best || c.scopeFrom > best.scopeFrom)
      )
        best = c;
    }
    return best;
  };

  const tables: TableRef[] = [];
  const subqueries: { alias: string; open: number; close: number }[] = [];
  const cteRefs: CteRef[] = [];
  /** the alias after token k (`x a`, `x AS a`), if one follows */
  const aliasAfter = (k: number): string | undefined => {
    let a = body[k + 1];
    if (a?.kind === "word" && a.value.toLowerCase() === "as") a = body[k + 2];
    else if (a?.kind === "word" && NOT_ALIAS.has(a.value.toLowerCase())) return undefined;
    return a && isName(a) ? a.value : undefined;
  };
  const selfReads = new Map<Cte, boolean>();
  // per open parenthesis (and -1 for the top level): inside a FROM clause?
  const inFrom = new Map<number, boolean>();
  let expectTable = false;
  for (let k = 0; k < body.length; k++) {
    const t = body[k]!;
    const level = enclosing[k]!;
    if (expectTable) {
      expectTable = false;
      if (t.text === "(") {
        // a subquery, or a parenthesized join whose first item is a table
        const next = word(k + 1);
        if (next !== "select" && next !== "with" && next !== "values") {
          inFrom.set(k, true);
          expectTable = true;
        } else {
          const alias = aliasAfter(match[k]!);
          if (alias !== undefined) subqueries.push({ alias, open: k, close: match[k]! });
        }
        continue;
      }
      if (isName(t)) {
        const end = k;
        if (body[k + 1]?.text === "." && isName(body[k + 2])) {
          throw bad(
            `sql: ${t.text}.${body[k + 2]!.text}: schema-qualified names are not allowed; only catalog datasets can be read, by their name`,
          );
        }
        const lower = t.value.toLowerCase();
        if (body[k + 1]?.text === "(") {
          if (!TABLE_FUNCTIONS.has(lower) || t.kind !== "word") {
            throw bad(
              `sql: ${t.text}(...) is not allowed as a table; only catalog datasets, CTEs and json_each / json_tree can be read`,
            );
          }
          continue;
        }
        for (const prefix of RESERVED_PREFIXES) {
          if (lower.startsWith(prefix))
            throw bad(
              `sql: ${t.text} is reserved for the engine's own bookkeeping and cannot be queried`,
            );
        }
        const cte = cteAt(t.value, k);
        if (cte) {
          if (k > cte.open && k < cte.close) selfReads.set(cte, true);
          cteRefs.push({ alias: aliasAfter(k) ?? t.value, cte: cte.name });
          continue;
        }
        const after = body[end + 1];
        const aliased =
          !!after &&
          (after.kind === "quoted" ||
            after.kind === "string" ||
            (after.kind === "word" &&
              (after.value.toLowerCase() === "as" || !NOT_ALIAS.has(after.value.toLowerCase()))));
        const ref: TableRef = {
          name: t.value,
          from: t.pos,
          to: body[end]!.pos + body[end]!.text.length,
          aliased,
        };
        if (aliased) {
          const a =
            after!.kind === "word" && after!.value.toLowerCase() === "as" ? body[end + 2] : after;
          if (a && isName(a)) ref.alias = a.value;
        }
        tables.push(ref);
        continue;
      }
      // anything else: not a table position after all (SQLite will say what is wrong)
    }
    if (t.kind === "word") {
      const w = t.value.toLowerCase();
      if (
        w === "from" &&
        word(k - 1) === "distinct" &&
        (word(k - 2) === "is" || word(k - 2) === "not")
      ) {
        // `a IS [NOT] DISTINCT FROM b`: an operator, not a FROM clause
      } else if (w === "from") {
        inFrom.set(level, true);
        expectTable = true;
      } else if (w === "join") {
        expectTable = true;
      } else if (w === "in") {
        if (body[k + 1]?.text !== "(" && isName(body[k + 1])) {
          // `x IN table`: the table takes no alias
          const n = body[k + 1]!;
          if (body[k + 2]?.text === ".")
            throw bad(
              `sql: ${n.text}.${body[k + 3]?.text ?? ""}: schema-qualified names are not allowed; only catalog datasets can be read, by their name`,
            );
          if (body[k + 2]?.text === "(") {
            if (!TABLE_FUNCTIONS.has(n.value.toLowerCase()))
              throw bad(
                `sql: ${n.text}(...) is not allowed as a table; only catalog datasets, CTEs and json_each / json_tree can be read`,
              );
            k++;
            continue;
          }
          for (const prefix of RESERVED_PREFIXES) {
            if (n.value.toLowerCase().startsWith(prefix))
              throw bad(
                `sql: ${n.text} is reserved for the engine's own bookkeeping and cannot be queried`,
              );
          }
          const cte = cteAt(n.value, k + 1);
          if (cte) {
            if (k + 1 > cte.open && k + 1 < cte.close) selfReads.set(cte, true);
          } else {
            tables.push({ name: n.value, from: n.pos, to: n.pos + n.text.length, aliased: true });
          }
          k++;
        }
      } else if (END_FROM.has(w)) {
        inFrom.set(level, false);
      }
    } else if (t.text === "," && inFrom.get(level)) {
      expectTable = true;
    }
  }

  // LIMIT at the top level of a body bounds its rows (for a recursive CTE: SQLite stops after that many)
  const limitOf = (open: number, close: number): number | null => {
    let limit: number | null = null;
    for (let k = open + 1; k < close; k++) {
      if (enclosing[k] !== open || word(k) !== "limit") continue;
      const first = body[k + 1];
      let count =
        first?.kind === "number" && /^[0-9]+$/.test(first.text) ? Number(first.text) : null;
      if (count !== null && body[k + 2]?.text === ",") {
        const second = body[k + 3];
        count =
          second?.kind === "number" && /^[0-9]+$/.test(second.text) ? Number(second.text) : null;
      }
      limit = count;
    }
    return limit;
  };
  // an aggregate call at the top level of the body, and no GROUP BY, window or compound there: one row
  const singleRow = (open: number, close: number): boolean => {
    let aggregate = false;
    for (let k = open + 1; k < close; k++) {
      if (enclosing[k] !== open) continue;
      const w = word(k);
      if (
        w === "group" ||
        w === "over" ||
        w === "window" ||
        w === "union" ||
        w === "intersect" ||
        w === "except" ||
        w === "values"
      )
        return false;
      if (!AGGREGATES.has(w) || body[k + 1]?.text !== "(") continue;
      // min(a, b) and max(a, b) with two or more arguments are scalar functions
      const args = k + 1;
      const scalar =
        (w === "min" || w === "max") &&
        body
          .slice(args + 1, match[args]!)
          .some((t, j) => t.text === "," && enclosing[args + 1 + j] === args);
      if (!scalar) aggregate = true;
    }
    return aggregate;
  };
  const recursive: RecursiveCte[] = [];
  const derived: DerivedSource[] = [];
  for (const cte of ctes) {
    const limit = limitOf(cte.open, cte.close);
    derived.push({ kind: "cte", name: cte.name, limit, single: singleRow(cte.open, cte.close) });
    if (selfReads.get(cte)) recursive.push({ name: cte.name, limit });
  }
  for (const q of subqueries)
    derived.push({
      kind: "subquery",
      name: q.alias,
      limit: limitOf(q.open, q.close),
      single: singleRow(q.open, q.close),
    });
  return { tables, recursive, derived, cteRefs };
}
