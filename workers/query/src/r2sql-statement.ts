// R2 SQL statement rendering: a checked SQLite statement rewritten for R2 SQL — `params` inlined
// as SQL literals (the API takes no bound parameters), every dataset reference rewritten to
// `"<namespace>"."<dataset name>"`, a row cap added — and the constructs R2 SQL does not run
// named before anything is sent.
// Rule: what cannot be rendered faithfully is refused (400 r2sql_unsupported), never guessed.
import { LakehouseError } from "../../../shared/errors";
import { type Token, tokenize } from "./sql-tokenizer";
import type { TableRef } from "./statement-tables";

/** A double-quoted identifier (`"` doubled), as R2 SQL (and standard SQL) reads it. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * One parameter as a SQL literal. Strings: single quotes with `'` doubled; a backslash is
 * refused, because whether R2 SQL's dialect treats it as an escape is not documented, and a
 * literal that could end early would let a parameter change the statement. Numbers: as written by
 * JavaScript, negative ones in parentheses (so `x-?` cannot become a `--` comment). Booleans:
 * TRUE / FALSE (R2 SQL has a boolean type). null: NULL.
 */
export function sqlLiteral(value: string | number | boolean | null, index: number): string {
  if (value === null) return "NULL";
  if (typeof value === "boolean") return value ? "TRUE" : "FALSE";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw unsupported(`params[${index}] is not a finite number`);
    const text = String(value);
    return value < 0 || Object.is(value, -0) ? `(${text})` : text;
  }
  if (value.includes("\\")) {
    throw unsupported(
      `params[${index}] contains a backslash; R2 SQL's API takes no bound parameters, so parameters are inlined as literals, ` +
        `and a backslash cannot be inlined safely (write that value in the SQL text instead)`,
    );
  }
  if (value.includes("\0"))
    throw unsupported(
      `params[${index}] contains a NUL character, which cannot be written in a SQL literal`,
    );
  return `'${value.replaceAll("'", "''")}'`;
}

function unsupported(message: string): LakehouseError {
  return new LakehouseError("r2sql_unsupported", `sql: R2 SQL: ${message}`, { status: 400 });
}

interface ParamSlot {
  from: number;
  to: number;
  /** 1-based parameter index, numbered as SQLite numbers them */
  index: number;
}

/**
 * The parameter placeholders of a statement, numbered as SQLite binds them (so `params` means
 * the same on both engines): `?` takes the next index, `?NNN` index NNN, and `:name` / `@name` /
 * `$name` the next index on its first use and the same one after. A `::` cast is not a parameter.
 */
export function parameterSlots(tokens: Token[], sql: string): ParamSlot[] {
  const slots: ParamSlot[] = [];
  const named = new Map<string, number>();
  let max = 0;
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]!;
    if (t.kind !== "param") continue;
    // `x::INT`: the tokenizer sees ":" then ":INT"
    if (t.text.startsWith(":") && (sql[t.pos - 1] === ":" || sql[t.pos + 1] === ":")) continue;
    let index: number;
    if (t.text === "?") index = ++max;
    else if (t.text.startsWith("?")) {
      if (!/^\?[0-9]+$/.test(t.text))
        throw new LakehouseError("bad_request", `sql: bad parameter ${t.text} at offset ${t.pos}`);
      index = Number(t.text.slice(1));
      if (index < 1 || index > 32766)
        throw new LakehouseError(
          "bad_request",
          `sql: parameter ${t.text} at offset ${t.pos} is out of range`,
        );
      max = Math.max(max, index);
    } else {
      if (t.text.length < 2) continue; // a lone ':', '@' or '$' is not a parameter; R2 SQL will say what it is
      const known = named.get(t.text);
      if (known !== undefined) index = known;
      else {
        index = ++max;
        named.set(t.text, index);
      }
    }
    slots.push({ from: t.pos, to: t.pos + t.text.length, index });
  }
  return slots;
}

/** The first construct of the statement that R2 SQL does not run, named; null when none is seen. */
export function unsupportedConstruct(tokens: Token[]): string | null {
  const word = (k: number): string =>
    tokens[k]?.kind === "word" ? tokens[k]!.value.toLowerCase() : "";
  if (word(0) === "values")
    return "a VALUES statement (R2 SQL reads tables: SELECT … FROM a dataset)";
  if (word(0) === "explain" && word(1) === "query" && word(2) === "plan")
    return "EXPLAIN QUERY PLAN (SQLite's; R2 SQL has EXPLAIN and EXPLAIN FORMAT JSON)";
  for (let k = 0; k < tokens.length; k++) {
    const w = word(k);
    if (!w) continue;
    if (w === "recursive" && word(k - 1) === "with") return "WITH RECURSIVE (recursive CTEs)";
    if (w === "lateral") return "LATERAL";
    if (w === "offset" && (tokens[k - 1]?.kind === "number" || tokens[k - 1]?.kind === "param"))
      return "OFFSET";
    if (
      w === "limit" &&
      tokens[k + 2]?.text === "," &&
      (tokens[k + 1]?.kind === "number" || tokens[k + 1]?.kind === "param")
    )
      return "LIMIT <offset>, <count>";
    if (
      w === "window" &&
      (tokens[k + 1]?.kind === "word" || tokens[k + 1]?.kind === "quoted") &&
      word(k + 2) === "as"
    )
      return "the named WINDOW clause (write OVER (…) at each call)";
    if ((w === "json_each" || w === "json_tree") && tokens[k + 1]?.text === "(")
      return `${tokens[k]!.text}() (a SQLite table function)`;
    if (w === "glob") return "GLOB (SQLite's; use LIKE)";
    if (w === "indexed" && (word(k - 1) === "not" || word(k + 1) === "by"))
      return "INDEXED BY / NOT INDEXED (SQLite's)";
  }
  return null;
}

/**
 * Rewrites a checked statement for R2 SQL: every dataset reference becomes
 * `"<namespace>"."<dataset name>"` (aliased to the name as written, as the local engine does, so
 * `people.id` keeps working), every parameter its literal. `names` maps each reference's name as
 * written to the catalog dataset's name. Throws 400 when `params` does not fill the placeholders.
 */
export function rewriteForR2Sql(
  sql: string,
  tables: TableRef[],
  names: Map<string, string>,
  namespace: string,
  params: (string | number | boolean | null)[],
): string {
  const tokens = tokenize(sql);
  const construct = unsupportedConstruct(tokens);
  if (construct)
    throw unsupported(
      `${construct} is not supported by R2 SQL (https://developers.cloudflare.com/r2-sql/reference/limitations-best-practices/); run it on the local engine ("engine": "local") or rewrite it`,
    );
  const slots = parameterSlots(tokens, sql);
  const needed = slots.reduce((m, s) => Math.max(m, s.index), 0);
  if (needed !== params.length) {
    throw new LakehouseError(
      "bad_request",
      `sql: the statement has ${needed} parameter${needed === 1 ? "" : "s"} but params has ${params.length} value${params.length === 1 ? "" : "s"}`,
    );
  }
  const edits: { from: number; to: number; text: string }[] = [];
  for (const s of slots)
    edits.push({ from: s.from, to: s.to, text: sqlLiteral(params[s.index - 1]!, s.index - 1) });
  for (const ref of tables) {
    const name = names.get(ref.name) ?? ref.name;
    const qualified = `${quoteIdentifier(namespace)}.${quoteIdentifier(name)}`;
    edits.push({
      from: ref.from,
      to: ref.to,
      text: ref.aliased ? qualified : `${qualified} AS ${quoteIdentifier(ref.name)}`,
    });
  }
  let out = sql;
  for (const e of edits.sort((a, b) => b.from - a.from))
    out = out.slice(0, e.from) + e.text + out.slice(e.to);
  return out;
}

/**
 * Bounds the rows R2 SQL sends back to maxRows + 1 (one more tells `truncated`): a statement
 * without a LIMIT at its top level gets `LIMIT maxRows+1` appended (R2 SQL's own default is 500
 * rows); a top-level integer LIMIT above that is lowered to it. EXPLAIN is left alone.
 */
export function capRows(sql: string, maxRows: number): string {
  const tokens = tokenize(sql);
  const first = tokens[0]?.kind === "word" ? tokens[0].value.toLowerCase() : "";
  if (first === "explain") return sql;
  let depth = 0;
  let last = -1;
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]!;
    if (t.kind === "punct" && t.text === "(") depth++;
    else if (t.kind === "punct" && t.text === ")") depth--;
    else if (depth === 0 && t.kind === "word" && t.value.toLowerCase() === "limit") last = k;
  }
  const cap = maxRows + 1;
  if (last === -1) return `${sql}\nLIMIT ${cap}`;
  const n = tokens[last + 1];
  if (n?.kind === "number" && /^[0-9]+$/.test(n.text) && Number(n.text) > cap) {
    return sql.slice(0, n.pos) + String(cap) + sql.slice(n.pos + n.text.length);
  }
  return sql;
}
