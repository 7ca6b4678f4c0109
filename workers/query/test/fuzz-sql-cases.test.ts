// Every wrong answer the differential SQL fuzzer (fuzz-sql.test.ts) found, as it shrank it: the
// dataset, the statement, and what was wrong. Each runs through the same path as the fuzzer
// (Parquet → the engine's loader → both engines) and must now get the same, rightly typed answer
// from both, taking the columnar path where it says so. A new failure found by the fuzzer is added
// here once minimized, with the fix that made it pass.
import { describe, expect, it } from "vitest";
import { answerDifference, typingFault } from "./fuzz-sql-compare";
import { T_COLUMNS, U_COLUMNS, loadDataset, type Row } from "./fuzz-sql-data";
import { fuzzEngine, queryOn, showAnswer } from "./fuzz-sql-engine";
import type { Statement } from "./fuzz-sql-query";

interface Case {
  /** what was wrong, and where it was fixed */
  title: string;
  t: Row[];
  u?: Row[];
  sql: string;
  aggs: Statement["aggs"];
  order?: Statement["order"];
  /** the answer SQLite gives (rows), so the case also pins what is right */
  rows: unknown[][];
  /** the columnar path must answer it (not give way) */
  columnar: boolean;
}

const fill = (columns: { name: string }[], rows: Row[]): Row[] => rows.map((r) => Object.fromEntries(columns.map((c) => [c.name, r[c.name] ?? null])));

const CASES: Case[] = [
  {
    title: "sum() of a derived key holding -Infinity was NaN (Kahan compensation of an infinite sum); fixed on h/columnar (columnar-kernels.ts)",
    t: [{ s: "-1e999" }],
    sql: "SELECT sum(round(s)) FROM t",
    aggs: ["sum"],
    rows: [[-Infinity]],
    columnar: true,
  },
];

describe("the differential SQL fuzzer's findings, minimized", () => {
  const stub = fuzzEngine("fuzz-sql-cases");
  for (const c of CASES) {
    it(c.title, async () => {
      const run = queryOn(stub, await loadDataset(stub, { t: fill(T_COLUMNS, c.t), u: fill(U_COLUMNS, c.u ?? []) }));
      const st: Statement = { sql: c.sql, order: c.order ?? "multiset", orderOutputs: [], aggs: c.aggs };
      const sqlite = await run(c.sql, false);
      const columnar = await run(c.sql, true);
      const why = `${c.sql}\nSQLite:   ${showAnswer(sqlite)}\ncolumnar: ${showAnswer(columnar)}`;
      expect(sqlite.ok && sqlite.result.rows, why).toEqual(c.rows);
      expect(answerDifference(sqlite, columnar, st), why).toBeNull();
      expect(typingFault(sqlite, st) ?? typingFault(columnar, st), why).toBeNull();
      expect(columnar.ok && columnar.engine, why).toBe(c.columnar ? "columnar" : "sqlite");
    });
  }
});
