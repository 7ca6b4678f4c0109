// The SQLite statement tokenizer the read-only guard reads with: words, quoted identifiers
// ("x", [x], `x`), string literals, numbers, parameters and operators, comments skipped.
// Rule: it only splits text into tokens and refuses what cannot be a token (an unterminated
// string or identifier) with a 400; deciding what a statement may do is guard.ts's job.
import { LakehouseError } from "../../../shared/errors";

export interface Token {
  kind: "word" | "quoted" | "string" | "number" | "param" | "punct";
  text: string;
  /** identifier value for word/quoted tokens (quotes removed) */
  value: string;
  pos: number;
}

/** Names reserved for the engine's own tables (and pragma_* table functions): never readable. */
export const RESERVED_PREFIXES = ["_lh_", "sqlite_", "_cf_", "pragma_"];

export function bad(message: string): LakehouseError {
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
        if (i >= n)
          throw bad(
            `unterminated ${c === "'" ? "string literal" : "quoted identifier"} starting at offset ${start}`,
          );
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
      tokens.push({
        kind: c === "'" ? "string" : "quoted",
        text: sql.slice(start, i),
        value,
        pos: start,
      });
      continue;
    }
    if (c === "[") {
      const end = sql.indexOf("]", i);
      if (end === -1) throw bad(`unterminated [identifier] starting at offset ${start}`);
      i = end + 1;
      tokens.push({
        kind: "quoted",
        text: sql.slice(start, i),
        value: sql.slice(start + 1, end),
        pos: start,
      });
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

/** A token that can name a table or an alias: a word, a quoted identifier or a string literal. */
export function isName(t: Token | undefined): boolean {
  return !!t && (t.kind === "word" || t.kind === "quoted" || t.kind === "string");
}
