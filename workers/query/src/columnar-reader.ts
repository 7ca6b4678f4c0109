// The columnar planner's token reader: a cursor over the statement's tokens that reads names,
// column references (resolved against the FROM tables' schemas), derived keys (a deterministic
// function of one column), aggregate calls, literals and comparison operators.
// Rule: it accepts only what the kernels evaluate exactly as SQLite does; anything else throws
// NotFast so that SQLite answers. The clause structure is columnar-plan.ts's.
import {
  type Agg,
  type AggFn,
  type ColRef,
  type KeyExpr,
  NotFast,
  type Op,
} from "./columnar-types";
import type { Token } from "./sql-tokenizer";

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

/** The lower-cased word of a word token, else "". */
export function word(t: Token | undefined): string {
  return t && t.kind === "word" ? t.value.toLowerCase() : "";
}

/** A name: a quoted identifier, or a word that does not start a clause. */
export function isName(t: Token | undefined): boolean {
  return !!t && (t.kind === "quoted" || (t.kind === "word" && !CLAUSE.has(t.value.toLowerCase())));
}

/**
 * The cursor: `i` is the next token. `aliases` and `schemas` are the FROM tables (filled by the
 * planner as it reads FROM); `aggs` collects each distinct aggregate once.
 */
export class PlanReader {
  i = 0;
  readonly aliases: string[] = [];
  readonly schemas: Map<string, string>[] = [];
  readonly aggs: Agg[] = [];

  constructor(readonly toks: Token[]) {}

  peek(k = 0): Token | undefined {
    return this.toks[this.i + k];
  }
  expectWord(w: string) {
    if (word(this.peek()) !== w) throw new NotFast();
    this.i++;
  }
  ident(): string {
    const t = this.peek();
    if (!isName(t)) throw new NotFast();
    this.i++;
    return t!.value;
  }
  resolveCol(qual: string | null, name: string): ColRef {
    const lower = name.toLowerCase();
    if (qual !== null) {
      const side = this.aliases.indexOf(qual.toLowerCase());
      if (side < 0) throw new NotFast();
      const col = this.schemas[side]!.get(lower);
      if (!col) throw new NotFast(); // SQLite names the unknown column
      return { side, col };
    }
    const found = this.schemas.flatMap((s, side) =>
      s.has(lower) ? [{ side, col: s.get(lower)! }] : [],
    );
    if (found.length !== 1) throw new NotFast(); // unknown or ambiguous: SQLite says which
    return found[0]!;
  }
  /** `[t.]col`, when the tokens at i are one (consumed), else null */
  colRefHere(): ColRef | null {
    const t = this.peek();
    if (!isName(t)) return null;
    if (this.peek(1)?.text === "(") return null;
    if (this.peek(1)?.text === ".") {
      if (!isName(this.peek(2))) throw new NotFast();
      this.i += 3;
      return this.resolveCol(t!.value, this.toks[this.i - 1]!.value);
    }
    this.i++;
    return this.resolveCol(null, t!.value);
  }
  /** key := col | fn(arg, ...) with exactly one column reference among the args */
  keyExpr(): KeyExpr {
    const t = this.peek();
    if (t?.kind === "word" && KEY_FNS.has(t.value.toLowerCase()) && this.peek(1)?.text === "(") {
      let ref: ColRef | null = null;
      const render = (): string => {
        const f = this.peek()!;
        const fn = f.value.toLowerCase();
        this.i += 2;
        const args: string[] = [];
        if (this.peek()?.text !== ")") {
          for (;;) {
            const a = this.peek();
            if (!a) throw new NotFast();
            if (
              a.kind === "word" &&
              KEY_FNS.has(a.value.toLowerCase()) &&
              this.peek(1)?.text === "("
            )
              args.push(render());
            else if (a.kind === "string") {
              if (/^\s*now\s*$/i.test(a.value)) throw new NotFast(); // not deterministic
              args.push(a.text);
              this.i++;
            } else if (a.kind === "number" || (a.text === "-" && this.peek(1)?.kind === "number")) {
              const neg = a.text === "-";
              if (neg) this.i++;
              const n = this.peek()!;
              if (!/^[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?$/.test(n.text)) throw new NotFast();
              args.push((neg ? "-" : "") + n.text);
              this.i++;
            } else {
              const c = this.colRefHere();
              if (!c || ref) throw new NotFast();
              ref = c;
              args.push("value");
            }
            if (this.peek()?.text === ",") {
              this.i++;
              continue;
            }
            break;
          }
        }
        if (this.peek()?.text !== ")") throw new NotFast();
        this.i++;
        return `${fn}(${args.join(", ")})`;
      };
      const fx = render();
      if (!ref) throw new NotFast();
      const r = ref as ColRef;
      return { ref: r, fx, id: `${r.side}|${r.col}|${fx}` };
    }
    const ref = this.colRefHere();
    if (!ref) throw new NotFast();
    return { ref, fx: null, id: `${ref.side}|${ref.col}|` };
  }
  aggCall(): Agg {
    const fn = this.peek()!.value.toLowerCase() as AggFn;
    this.i += 2;
    let distinct = false;
    let arg: KeyExpr | null = null;
    if (this.peek()?.text === "*") {
      if (fn !== "count") throw new NotFast();
      this.i++;
    } else {
      if (word(this.peek()) === "distinct") {
        if (fn !== "count") throw new NotFast();
        distinct = true;
        this.i++;
      }
      arg = this.keyExpr();
    }
    if (this.peek()?.text !== ")") throw new NotFast();
    this.i++;
    const id = `${fn}|${distinct ? "d" : ""}|${arg?.id ?? "*"}`;
    let found = this.aggs.find((x) => x.id === id);
    if (!found) {
      found = { fn, arg, distinct, id };
      this.aggs.push(found);
    }
    return found;
  }
  isAggHere() {
    const t = this.peek();
    return t?.kind === "word" && AGG_FNS.has(t.value.toLowerCase()) && this.peek(1)?.text === "(";
  }
  literal(): number | string {
    let neg = false;
    if (this.peek()?.text === "-" || this.peek()?.text === "+") {
      neg = this.peek()!.text === "-";
      this.i++;
    }
    const t = this.peek();
    if (!t) throw new NotFast();
    this.i++;
    if (t.kind === "number") {
      if (!/^[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?$|^\.[0-9]+$/.test(t.text)) throw new NotFast();
      const n = Number(t.text);
      return neg ? -n : n;
    }
    if (t.kind === "string" && !neg) return t.value;
    throw new NotFast();
  }
  op(): Op {
    const o = OPS[this.peek()?.text ?? ""];
    if (!o) throw new NotFast();
    this.i++;
    return o;
  }
}
