// The read-only statement guard: a small SQLite tokenizer that accepts exactly one
// SELECT / WITH / VALUES / EXPLAIN statement, refuses every keyword that writes or
// changes the connection (INSERT, PRAGMA, ATTACH, ...), and keeps queries away from
// the engine's own tables (_lh_*, sqlite_*, _cf_*, pragma_* table functions).
// It also returns the identifiers the statement names, so the engine knows which
// datasets to load before running it.
import { LakehouseError } from "../../../shared/errors";

export interface Token {
  kind: "word" | "quoted" | "string" | "number" | "param" | "punct";
  text: string;
  /** identifier value for word/quoted tokens (quotes removed) */
  value: string;
  pos: number;
}

export interface CheckedStatement {
  /** the statement without trailing semicolons */
  sql: string;
  /** lower-cased identifiers the statement names (candidates for dataset tables) */
  identifiers: Set<string>;
  /** first keyword: select, with, values or explain */
  kind: string;
}

const ALLOWED_FIRST = new Set(["select", "with", "values", "explain"]);
const FORBIDDEN = new Set([
  "insert", "update", "delete", "create", "drop", "alter", "attach", "detach", "pragma", "vacuum",
  "reindex", "analyze", "begin", "commit", "rollback", "savepoint", "release", "truncate",
]);
// REPLACE is also the replace() string function: forbidden only when not called.
const RESERVED_PREFIXES = ["_lh_", "sqlite_", "_cf_", "pragma_"];

function bad(message: string): LakehouseError {
  return new LakehouseError("bad_request", message);
}

export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    if (c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f" || c === "\v") {
      i++;
      continue;
    }
    if (c === "-" && sql[i + 1] === "-") {
      const end = sql.indexOf("\n", i);
      i = end === -1 ? n : end + 1;
      continue;
    }
    if (c === "/" && sql[i + 1] === "*") {
      const end = sql.indexOf("*/", i + 2);
      i = end === -1 ? n : end + 2; // SQLite accepts an unterminated comment at the end
      continue;
    }
    const start = i;
    if (c === "'" || c === '"' || c === "`") {
      let value = "";
      i++;
      for (;;) {
        if (i >= n) throw bad(`unterminated ${c === "'" ? "string literal" : "quoted identifier"} starting at offset ${start}`);
        const d = sql[i]!;
        if (d === c) {
          if (sql[i + 1] === c) {
            value += c;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += d;
        i++;
      }
      tokens.push({ kind: c === "'" ? "string" : "quoted", text: sql.slice(start, i), value, pos: start });
      continue;
    }
    if (c === "[") {
      const end = sql.indexOf("]", i);
      if (end === -1) throw bad(`unterminated [identifier] starting at offset ${start}`);
      i = end + 1;
      tokens.push({ kind: "quoted", text: sql.slice(start, i), value: sql.slice(start + 1, end), pos: start });
      continue;
    }
    if (/[A-Za-z_\u0080-\uffff]/.test(c)) {
      i++;
      while (i < n && /[A-Za-z0-9_$\u0080-\uffff]/.test(sql[i]!)) i++;
      const text = sql.slice(start, i);
      tokens.push({ kind: "word", text, value: text, pos: start });
      continue;
    }
    if (/[0-9]/.test(c) || (c === "." && /[0-9]/.test(sql[i + 1] ?? ""))) {
      i++;
      while (i < n && /[0-9A-Za-z_.]/.test(sql[i]!)) {
        if ((sql[i] === "e" || sql[i] === "E") && (sql[i + 1] === "+" || sql[i + 1] === "-")) i++;
        i++;
      }
      tokens.push({ kind: "number", text: sql.slice(start, i), value: "", pos: start });
      continue;
    }
    if (c === "?" || c === ":" || c === "@" || c === "$") {
      i++;
      while (i < n && /[A-Za-z0-9_]/.test(sql[i]!)) i++;
      tokens.push({ kind: "param", text: sql.slice(start, i), value: "", pos: start });
      continue;
    }
    // operators: take two-character ones whole so "||" or "<=" stay one token
    const two = sql.slice(i, i + 2);
    if (["||", "<=", ">=", "<>", "!=", "==", "<<", ">>", "->"].includes(two)) {
      i += sql.slice(i, i + 3) === "->>" ? 3 : 2;
    } else {
      i++;
    }
    tokens.push({ kind: "punct", text: sql.slice(start, i), value: "", pos: start });
  }
  return tokens;
}

/** Checks that `sql` is one read-only statement; throws a 400 naming what is wrong. */
export function checkReadOnly(sql: string): CheckedStatement {
  const tokens = tokenize(sql);
  // drop trailing semicolons; any other semicolon separates two statements
  let last = tokens.length;
  while (last > 0 && tokens[last - 1]!.text === ";") last--;
  const body = tokens.slice(0, last);
  if (body.length === 0) throw bad("sql: the statement is empty");
  const semi = body.find((t) => t.text === ";");
  if (semi) throw bad(`sql: only one statement is allowed (found a second statement after ';' at offset ${semi.pos})`);
  const first = body[0]!;
  const kind = first.kind === "word" ? first.value.toLowerCase() : first.text;
  if (!ALLOWED_FIRST.has(kind)) {
    throw bad(`sql: only SELECT, WITH, VALUES or EXPLAIN statements are allowed (got ${JSON.stringify(first.text.slice(0, 40))})`);
  }
  if (kind === "explain") {
    let k = 1;
    if (body[k]?.kind === "word" && body[k]!.value.toLowerCase() === "query" && body[k + 1]?.value.toLowerCase() === "plan") k += 2;
    const inner = body[k];
    const innerKind = inner?.kind === "word" ? inner.value.toLowerCase() : "";
    if (!["select", "with", "values"].includes(innerKind)) {
      throw bad(`sql: EXPLAIN is allowed only before SELECT, WITH or VALUES (got ${JSON.stringify(inner?.text ?? "nothing")})`);
    }
  }
  const identifiers = new Set<string>();
  for (let k = 0; k < body.length; k++) {
    const t = body[k]!;
    if (t.kind !== "word" && t.kind !== "quoted") continue;
    const lower = t.value.toLowerCase();
    const next = body[k + 1]?.text;
    if (t.kind === "word") {
      if (FORBIDDEN.has(lower)) throw bad(`sql: ${t.text.toUpperCase()} is not allowed; queries are read-only (SELECT, WITH, VALUES, EXPLAIN)`);
      if (lower === "replace" && next !== "(") throw bad("sql: REPLACE is not allowed; queries are read-only (SELECT, WITH, VALUES, EXPLAIN)");
    }
    for (const prefix of RESERVED_PREFIXES) {
      // sqlite_version() and friends are harmless functions; sqlite_* tables are not
      if (lower.startsWith(prefix) && !(prefix === "sqlite_" && next === "(" && t.kind === "word")) {
        throw bad(`sql: ${t.text} is reserved for the engine's own bookkeeping and cannot be queried`);
      }
    }
    identifiers.add(lower);
  }
  const text = sql.slice(0, body[body.length - 1]!.pos + body[body.length - 1]!.text.length);
  return { sql: text, identifiers, kind };
}
