// The differential SQL fuzzer's engine side: one QueryEngine object of its own, a statement run
// with the columnar path (`columnar: true`) or without it (SQLite), and answers shown as text.
import { env } from "cloudflare:workers";
import type { EngineAnswer } from "../src/engine-types";
import { checkReadOnly } from "../src/guard";
import type { QueryEngine } from "../src/query-engine";

export type Query = (sql: string, columnar: boolean) => Promise<EngineAnswer>;

export function fuzzEngine(name: string): DurableObjectStub<QueryEngine> {
  return env.QUERY_ENGINE.get(env.QUERY_ENGINE.idFromName(name)) as DurableObjectStub<QueryEngine>;
}

/** Runs statements on `stub` against the catalog versions `refs` (what loadDataset returned). */
export function queryOn(
  stub: DurableObjectStub<QueryEngine>,
  refs: { name: string; version: number }[],
): Query {
  return async (sql, columnar) => {
    const checked = checkReadOnly(sql);
    return (await stub.query({
      sql: checked.sql,
      params: [],
      max_rows: 100_000,
      timeout_ms: 60_000,
      columnar,
      columnar_cache_bytes: 64 * 1024 * 1024,
      tables: checked.tables,
      max_join_rows: 1e12,
      kind: checked.kind,
      datasets: refs,
    })) as EngineAnswer;
  };
}

/** An answer as one line of JSON (±Infinity and NaN, which JSON lacks, as strings). */
export function showAnswer(a: EngineAnswer): string {
  return JSON.stringify(
    a.ok
      ? { engine: a.engine, columns: a.result.columns, rows: a.result.rows }
      : { error: a.error },
    (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v),
  );
}
