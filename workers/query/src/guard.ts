// The read-only statement guard: accepts exactly one SELECT / WITH / VALUES / EXPLAIN
// statement, refuses every keyword that writes or changes the connection (INSERT, PRAGMA,
// ATTACH, ...), and keeps queries away from the engine's own tables (_lh_*, sqlite_*, _cf_*,
// pragma_* table functions). It also returns the identifiers the statement names and the
// tables it reads, so the engine knows which datasets to load before running it, and resolves
// those tables to catalog datasets.
// Rule: nothing reaches an engine unless checkReadOnly accepted it. Tokens come from
// sql-tokenizer.ts; table references and CTE / subquery facts from statement-tables.ts.
import { LakehouseError } from "../../../shared/errors";
import { bad, RESERVED_PREFIXES, tokenize } from "./sql-tokenizer";
import type { CteRef, DerivedSource, RecursiveCte, TableRef } from "./statement-tables";
import { tableReferences } from "./statement-tables";

export interface CheckedStatement {
  /** the statement without trailing semicolons */
  sql: string;
  /** lower-cased identifiers the statement names */
  identifiers: Set<string>;
  /** first keyword: select, with, values or explain */
  kind: string;
  /** the tables it reads, in order of appearance (CTE names and table functions excluded) */
  tables: TableRef[];
  /** recursive CTEs (a CTE whose body reads its own name) */
  recursive: RecursiveCte[];
  /** CTEs and FROM subqueries, and where CTEs are read (for the join estimate) */
  derived: DerivedSource[];
  cteRefs: CteRef[];
}

const ALLOWED_FIRST = new Set(["select", "with", "values", "explain"]);
const FORBIDDEN = new Set([
  "insert",
  "update",
  "delete",
  "create",
  "drop",
  "alter",
  "attach",
  "detach",
  "pragma",
  "vacuum",
  "reindex",
  "analyze",
  "begin",
  "commit",
  "rollback",
  "savepoint",
  "release",
  "truncate",
]);
// REPLACE is also the replace() string function: forbidden only when not called.

/** Checks that `sql` is one read-only statement; throws a 400 naming what is wrong. */
export function checkReadOnly(sql: string): CheckedStatement {
  const tokens = tokenize(sql);
  // drop trailing semicolons; any other semicolon separates two statements
  let last = tokens.length;
  while (last > 0 && tokens[last - 1]!.text === ";") last--;
  const body = tokens.slice(0, last);
  if (body.length === 0) throw bad("sql: the statement is empty");
  const semi = body.find((t) => t.text === ";");
  if (semi)
    throw bad(
      `sql: only one statement is allowed (found a second statement after ';' at offset ${semi.pos})`,
    );
  const first = body[0]!;
  const kind = first.kind === "word" ? first.value.toLowerCase() : first.text;
  if (!ALLOWED_FIRST.has(kind)) {
    throw bad(
      `sql: only SELECT, WITH, VALUES or EXPLAIN statements are allowed (got ${JSON.stringify(first.text.slice(0, 40))})`,
    );
  }
  if (kind === "explain") {
    let k = 1;
    if (
      body[k]?.kind === "word" &&
      body[k]!.value.toLowerCase() === "query" &&
      body[k + 1]?.value.toLowerCase() === "plan"
    )
      k += 2;
    const inner = body[k];
    const innerKind = inner?.kind === "word" ? inner.value.toLowerCase() : "";
    if (!["select", "with", "values"].includes(innerKind)) {
      throw bad(
        `sql: EXPLAIN is allowed only before SELECT, WITH or VALUES (got ${JSON.stringify(inner?.text ?? "nothing")})`,
      );
    }
  }
  const identifiers = new Set<string>();
  for (let k = 0; k < body.length; k++) {
    const t = body[k]!;
    if (t.kind !== "word" && t.kind !== "quoted") continue;
    const lower = t.value.toLowerCase();
    const next = body[k + 1]?.text;
    if (t.kind === "word") {
      if (FORBIDDEN.has(lower))
        throw bad(
          `sql: ${t.text.toUpperCase()} is not allowed; queries are read-only (SELECT, WITH, VALUES, EXPLAIN)`,
        );
      if (lower === "replace" && next !== "(")
        throw bad(
          "sql: REPLACE is not allowed; queries are read-only (SELECT, WITH, VALUES, EXPLAIN)",
        );
    }
    for (const prefix of RESERVED_PREFIXES) {
      // sqlite_version() and friends are harmless functions; sqlite_* tables are not
      if (
        lower.startsWith(prefix) &&
        !(prefix === "sqlite_" && next === "(" && t.kind === "word")
      ) {
        throw bad(
          `sql: ${t.text} is reserved for the engine's own bookkeeping and cannot be queried`,
        );
      }
    }
    identifiers.add(lower);
  }
  const text = sql.slice(0, body[body.length - 1]!.pos + body[body.length - 1]!.text.length);
  const { tables, recursive, derived, cteRefs } = tableReferences(body);
  return { sql: text, identifiers, kind, tables, recursive, derived, cteRefs };
}

/**
 * Resolves table references to catalog datasets (the local engine and R2 SQL alike): the exact name, else
 * the one dataset whose name matches ignoring case (several → 400 ambiguous_table); unknown →
 * 400 `no such table`. Returns name as written → dataset.
 */
export function resolveDatasets<D extends { name: string }>(
  refs: TableRef[],
  datasets: D[],
): Map<string, D> {
  const exact = new Map(datasets.map((d) => [d.name, d]));
  const out = new Map<string, D>();
  for (const ref of refs) {
    if (out.has(ref.name)) continue;
    let d = exact.get(ref.name);
    if (!d) {
      const lower = ref.name.toLowerCase();
      const candidates = datasets.filter((x) => x.name.toLowerCase() === lower);
      if (candidates.length > 1) {
        throw new LakehouseError(
          "ambiguous_table",
          `sql: table ${JSON.stringify(ref.name)} matches datasets ${candidates.map((c) => JSON.stringify(c.name)).join(", ")}, which differ only in case; write the exact name in double quotes`,
          { status: 400 },
        );
      }
      d = candidates[0];
    }
    if (!d) throw new LakehouseError("bad_request", `no such table: ${ref.name}`);
    out.set(ref.name, d);
  }
  return out;
}
