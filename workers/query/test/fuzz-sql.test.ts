// Issue #21: the differential SQL fuzzer. The columnar fast path (workers/query/src/columnar*.ts)
// re-implements part of SQLite's semantics; the same statement must get the same answer from it
// (`columnar: true`, labelled engine "columnar") as from SQLite (`columnar: false`). fast-check
// draws datasets (fuzz-sql-data.ts: every column type, the awkward values) and statements in the
// fast path's grammar (fuzz-sql-query.ts), loads each dataset once through Parquet and the
// engine's loader, runs a batch of statements on both, and compares (fuzz-sql-compare.ts: the
// rule is in docs/sql.md). It also checks what holds whoever answers: count/sum/avg typed by
// the expression, and the loaded table against the generated values (count, count DISTINCT).
// The seed is printed; FUZZ_SQL_SEED and FUZZ_SQL_RUNS (bound by vitest.config.ts) replay or
// widen a run, and `npm run fuzz:sql -- --runs N --seed S` sets them. A failure prints the seed,
// the path and the shrunk counterexample: dataset, SQL and both answers.
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { planFast } from "../src/columnar";
import type { EngineAnswer } from "../src/engine-types";
import { answerDifference, typingFault } from "./fuzz-sql-compare";
import {
  type Dataset,
  datasetArb,
  describeDataset,
  loadDataset,
  type Row,
  T_COLUMNS,
  U_COLUMNS,
} from "./fuzz-sql-data";
import { fuzzEngine, queryOn, showAnswer as show } from "./fuzz-sql-engine";
import { type Statement, statementArb } from "./fuzz-sql-query";

const settings = env as unknown as {
  FUZZ_SQL_SEED?: string;
  FUZZ_SQL_RUNS?: string;
  FUZZ_SQL_PATH?: string;
};
const SEED = Number(settings.FUZZ_SQL_SEED || 20261207);
const CASES = Number(settings.FUZZ_SQL_RUNS || 2000);
/** a counterexample's path (printed on failure): replays that one case and its shrinking */
const PATH = settings.FUZZ_SQL_PATH || undefined;
/** statements per dataset: loading a dataset costs about as much as a batch of queries */
const PER_DATASET = 20;
/** at least this share of the statements must take the columnar path, or the fuzzer proves little */
const MIN_COLUMNAR_SHARE = 0.5;
/** candidates tried while shrinking a failure (each loads a dataset): enough to reach a few rows */
const SHRINK_BUDGET = 400;

/** the planner's view of t and u (lower-case name → declared name) */
const SCHEMAS = new Map(
  [T_COLUMNS, U_COLUMNS].map((cols, n) => [
    n ? "u" : "t",
    new Map(cols.map((c) => [c.name, c.name])),
  ]),
);

class Mismatch extends Error {}

/** What the loaded `t` must hold, from the generated values: rows, non-NULLs and distinct values per column. */
function modelCounts(rows: Row[]): number[] {
  const out = [rows.length];
  for (const c of T_COLUMNS) {
    const seen = new Set<string>();
    let nonNull = 0;
    for (const r of rows) {
      const v = r[c.name];
      if (v === null || v === undefined) continue;
      let key: string;
      if (c.type === "float64") {
        if (!Number.isFinite(v as number)) continue; // NaN and ±Infinity load as NULL (docs/sql.md, Types)
        key = String(v === 0 ? 0 : v);
      } else if (c.type === "date") {
        const y = new Date(Number(v) * 86_400_000).getUTCFullYear();
        if (!(y >= 0 && y <= 9999)) continue; // outside SQLite's date range: NULL
        key = String(v);
      } else key = String(v);
      nonNull++;
      seen.add(key);
    }
    out.push(nonNull, seen.size);
  }
  return out;
}
const MODEL_SQL = `SELECT count(*), ${T_COLUMNS.map((c) => `count(${c.name}), count(DISTINCT ${c.name})`).join(", ")} FROM t`;

describe("the differential SQL fuzzer: columnar answers equal SQLite's", () => {
  it(`${CASES} generated statements over generated datasets (seed ${SEED})`, async () => {
    console.log(
      `fuzz-sql: seed ${SEED}, ${CASES} statements, ${PER_DATASET} per dataset (replay: FUZZ_SQL_SEED=${SEED} FUZZ_SQL_RUNS=${CASES})`,
    );
    const stub = fuzzEngine("fuzz-sql");
    const stats = { statements: 0, columnar: 0, unplanned: 0, errors: 0, datasets: 0 };
    type Failure = { data: Dataset; sql: string; sqlite: string; columnar: string; why: string };
    const failures: Failure[] = [];
    let shrinkRuns = 0;
    const property = fc.asyncProperty(
      datasetArb,
      fc.array(statementArb, { minLength: PER_DATASET, maxLength: PER_DATASET }),
      async (data: Dataset, statements: Statement[]) => {
        // shrinking is bounded: past SHRINK_BUDGET candidates each passes at once, so the last failing one is reported
        if (failures.length > 0 && ++shrinkRuns > SHRINK_BUDGET) return;
        try {
          await runBatch(data, statements);
        } catch (err) {
          // the last failing run is the shrunk counterexample: keep what each was
          if (!(err instanceof Mismatch))
            failures.push({
              data,
              sql: "(none: the run itself failed)",
              sqlite: "",
              columnar: "",
              why: String(err),
            });
          throw err;
        }
      },
    );
    const runBatch = async (data: Dataset, statements: Statement[]) => {
      const run = queryOn(stub, await loadDataset(stub, data));
      stats.datasets++;
      const fail = (sql: string, why: string, a: EngineAnswer, b: EngineAnswer | null) => {
        failures.push({ data, sql, sqlite: show(a), columnar: b ? show(b) : "(not asked)", why });
        throw new Mismatch(`${why}\nSQL: ${sql}`);
      };
      // the loaded table holds what was generated
      const loaded = await run(MODEL_SQL, false);
      if (!loaded.ok) fail(MODEL_SQL, "the model check failed", loaded, null);
      else {
        const want = modelCounts(data.t);
        const got = loaded.result.rows[0] as number[];
        const at = want.findIndex((n, k) => got[k] !== n);
        if (at >= 0) {
          const what =
            at === 0
              ? "count(*)"
              : `${at % 2 ? "count" : "count DISTINCT"} of ${T_COLUMNS[Math.floor((at - 1) / 2)]!.name}`;
          fail(
            MODEL_SQL,
            `the loaded table differs from the generated values: ${what} is ${got[at]}, generated ${want[at]}`,
            loaded,
            null,
          );
        }
      }
      for (const st of statements) {
        const a = await run(st.sql, false);
        const b = await run(st.sql, true);
        stats.statements++;
        if (b.ok && b.engine === "columnar") stats.columnar++;
        else if (!planFast(st.sql, SCHEMAS)) stats.unplanned++;
        if (!a.ok) stats.errors++;
        if (a.ok && a.engine !== "sqlite")
          fail(st.sql, `the SQLite-only request was answered by ${a.engine}`, a, b);
        const diff = answerDifference(a, b, st);
        if (diff) fail(st.sql, `columnar and SQLite differ: ${diff}`, a, b);
        const typing = typingFault(a, st) ?? typingFault(b, st);
        if (typing)
          fail(st.sql, `an answer is typed by its name, not its expression: ${typing}`, a, b);
      }
    };
    const details = await fc.check(property, {
      seed: SEED,
      numRuns: Math.ceil(CASES / PER_DATASET),
      path: PATH,
    });
    const share = stats.statements ? stats.columnar / stats.statements : 0;
    console.log(
      `fuzz-sql: ${stats.statements} statements on ${stats.datasets} datasets (with shrinking); ${stats.columnar} (${(share * 100).toFixed(1)}%) answered by the columnar path; of the rest, ${stats.unplanned} outside its grammar, the others given way at run time; ${stats.errors} refused by SQLite`,
    );
    if (details.failed) {
      const f = failures[failures.length - 1];
      const report = [
        `fuzz-sql FAILED: seed ${SEED}, path ${JSON.stringify(details.counterexamplePath)} (replay: npm run fuzz:sql -- --seed ${SEED} --path ${details.counterexamplePath})`,
        `after ${details.numRuns} runs and ${details.numShrinks} shrinks:`,
        f
          ? `${f.why}\nSQL: ${f.sql}\nSQLite:   ${f.sqlite}\ncolumnar: ${f.columnar}\ndataset:\n${describeDataset(f.data)}`
          : String(details.errorInstance),
      ].join("\n");
      console.error(report);
      expect.fail(report);
    }
    expect(share, "share of statements the columnar path answered").toBeGreaterThanOrEqual(
      MIN_COLUMNAR_SHARE,
    );
  }, 900_000);
});
