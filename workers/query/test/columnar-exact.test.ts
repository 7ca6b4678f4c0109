// Issue #21, the columnar fast path's wrong answers: each query runs on one engine replica twice,
// on the columnar path and on SQLite alone (what `engine: "sqlite"` asks for), and the two answers
// — columns with their types, and rows — must be identical; where the fast path should answer, the
// test also checks that it did (`engine: "columnar"`). Datasets reach the engine as ingest writes
// them (Parquet, every column OPTIONAL, timestamps INT64 TIMESTAMP_MICROS) through its own loader.
// The last group checks kernels on values the loader never stores (±Infinity) straight against the
// engine's SQLite, in the Durable Object.

import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { parquetWriteBuffer } from "hyparquet-writer";
import { describe, expect, it } from "vitest";
import type { ColumnType, Manifest, SchemaField } from "../../../shared/types";
import { type Column, planFast, readColumn, runFast } from "../src/columnar";
import type { EngineAnswer } from "../src/engine-types";
import { checkReadOnly } from "../src/guard";
import type { QueryEngine } from "../src/query-engine";

type Col = { name: string; type: ColumnType; data: unknown[] };

const stub = env.QUERY_ENGINE.get(
  env.QUERY_ENGINE.idFromName("columnar-exact"),
) as DurableObjectStub<QueryEngine>;
const versions = new Map<string, number>();

function element(c: Col) {
  const base = { name: c.name, repetition_type: "OPTIONAL" as const };
  switch (c.type) {
    case "int64":
      return { ...base, type: "INT64" as const };
    case "float64":
      return { ...base, type: "DOUBLE" as const };
    case "bool":
      return { ...base, type: "BOOLEAN" as const };
    case "date":
      return {
        ...base,
        type: "INT32" as const,
        converted_type: "DATE" as const,
        logical_type: { type: "DATE" as const },
      };
    case "timestamp":
      return {
        ...base,
        type: "INT64" as const,
        converted_type: "TIMESTAMP_MICROS" as const,
        logical_type: {
          type: "TIMESTAMP" as const,
          isAdjustedToUTC: true,
          unit: "MICROS" as const,
        },
      };
    case "string":
      return { ...base, type: "BYTE_ARRAY" as const, converted_type: "UTF8" as const };
  }
}

/** Writes `cols` as one Parquet object and loads it into the test's engine as the dataset's next version. */
async function load(name: string, cols: Col[]): Promise<void> {
  const version = (versions.get(name) ?? 0) + 1;
  versions.set(name, version);
  const rows = cols[0]!.data.length;
  const buf = parquetWriteBuffer({
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- hyparquet-writer's SchemaElement
    schema: [{ name: "root", num_children: cols.length }, ...cols.map(element)] as any,
    columnData: cols.map((c) => ({ name: c.name, data: c.data as never })),
    rowGroupSize: 1000,
  });
  const key = `datasets/${name}/v${version}/part-0.parquet`;
  await env.LAKE.put(key, buf);
  const schema: SchemaField[] = cols.map((c) => ({ name: c.name, type: c.type, nullable: true }));
  const now = new Date().toISOString();
  const manifest: Manifest = {
    dataset_id: name,
    name,
    schema,
    schema_fingerprint: "exact",
    objects: [{ key, size: buf.byteLength, row_count: rows }],
    row_count: rows,
    version,
    created_at: now,
    updated_at: now,
  };
  expect(await stub.changed(name, version, manifest, true)).toMatchObject({ loaded: true });
}

async function run(
  text: string,
  columnar: boolean,
  columnarBytes = 64 * 1024 * 1024,
): Promise<EngineAnswer> {
  const checked = checkReadOnly(text);
  return (await stub.query({
    sql: checked.sql,
    params: [],
    max_rows: 100_000,
    timeout_ms: 30_000,
    columnar,
    columnar_cache_bytes: columnarBytes,
    tables: checked.tables,
    max_join_rows: 1e12,
    kind: checked.kind,
    datasets: [...versions].map(([name, version]) => ({ name, version })),
  })) as EngineAnswer;
}

/** Both engines' answers to `text`; they must be equal, and the fast one columnar when `fast`. */
async function same(text: string, fast = true, columnarBytes?: number) {
  const a = await run(text, true, columnarBytes);
  const b = await run(text, false);
  if (!a.ok || !b.ok) throw new Error(`${text}: ${JSON.stringify(a.ok ? b : a)}`);
  expect(b.engine).toBe("sqlite");
  expect(a.engine, text).toBe(fast ? "columnar" : "sqlite");
  expect(a.result.columns, text).toEqual(b.result.columns);
  expect(a.result.rows, text).toEqual(b.result.rows);
  return b.result;
}

describe("the columnar fast path answers exactly what SQLite answers", () => {
  it("HAVING on a text aggregate compares as SQLite does (any TEXT is greater than any number)", async () => {
    await load("words", [
      { name: "g", type: "string", data: ["a", "a", "b", "b", "c", "d"] },
      { name: "s", type: "string", data: ["x", "yy", "1", "zz", null, "9"] },
      { name: "n", type: "int64", data: [1n, 2n, 3n, 4n, 5n, 6n] },
    ]);
    const kept = await same("SELECT g, max(s) FROM words GROUP BY g HAVING max(s) > 5");
    expect(kept.rows).toEqual([
      ["a", "yy"],
      ["b", "zz"],
      ["d", "9"],
    ]); // c's max is NULL: compares to nothing
    expect((await same("SELECT g, min(s) AS m FROM words GROUP BY g HAVING m < 100")).rows).toEqual(
      [],
    );
    expect(
      (await same("SELECT g FROM words GROUP BY g HAVING min(s) <> 3 ORDER BY g DESC")).rows,
    ).toEqual([["d"], ["b"], ["a"]]);
    expect(
      (await same("SELECT g, count(*) FROM words GROUP BY g HAVING max(s) >= 0 AND sum(n) > 3"))
        .rows,
    ).toEqual([
      ["b", 2],
      ["d", 1],
    ]);
    expect((await same("SELECT g FROM words GROUP BY g HAVING max(s) = 9")).rows).toEqual([]);
  });

  it("integer sums stay exact when a partial sum passes 2^53", async () => {
    const SAFE = 2n ** 53n - 1n;
    // in scan order: SAFE + 2 = 2^53 + 1 (not a double), then - SAFE: the exact sum is 2
    await load("sums", [
      { name: "g", type: "string", data: ["a", "a", "a", "b", "b", "c", "c"] },
      { name: "n", type: "int64", data: [SAFE, 2n, -SAFE, SAFE, SAFE, 5n, null] },
      { name: "m", type: "int64", data: [SAFE, 2n, -SAFE, 0n, 0n, 0n, 0n] },
    ]);
    // no NULLs and one group: the tight loop
    expect((await same("SELECT sum(m), avg(m) FROM sums")).rows).toEqual([[2, 2 / 7]]);
    expect((await same("SELECT sum(n) FROM sums WHERE g = 'a'")).rows).toEqual([[2]]);
    expect(
      (await same("SELECT g, sum(n), avg(n) FROM sums WHERE g <> 'b' GROUP BY g")).rows,
    ).toEqual([
      ["a", 2, 2 / 3],
      ["c", 5, 5],
    ]);
    // the whole column: SAFE + 2 - SAFE + 2 * SAFE + 5 = 2^54 + 5, past 2^53: SQLite's exact int64 is not a
    // JSON-safe number, so SQLite answers (whatever it answers, both paths answer it)
    await same("SELECT sum(n) FROM sums", false);
    // avg of a sum past 2^53 is a double of the exact int64 sum
    expect((await same("SELECT avg(n) FROM sums WHERE g = 'b'")).rows).toEqual([[Number(SAFE)]]);
  });

  it("types a result column from its expression, not from its output name", async () => {
    await load("flags", [
      { name: "flag", type: "bool", data: [true, true, false, null, true] },
      {
        name: "ts",
        type: "timestamp",
        data: [1_700_000_000_000_000n, null, 1_700_000_000_250_000n, 1_600_000_000_000_000n, null],
      },
      { name: "k", type: "string", data: ["p", "q", "p", "q", "p"] },
    ]);
    const sum = await same("SELECT sum(flag) AS flag, count(*) AS ts, count(flag) AS k FROM flags");
    expect(sum.columns).toEqual([
      { name: "flag", type: "BIGINT" },
      { name: "ts", type: "BIGINT" },
      { name: "k", type: "BIGINT" },
    ]);
    expect(sum.rows).toEqual([[3, 5, 4]]);
    const grouped = await same(
      "SELECT k AS flag, max(flag) AS m, min(ts) AS first, sum(flag) AS k FROM flags GROUP BY 1 ORDER BY 1",
    );
    expect(grouped.columns).toEqual([
      { name: "flag", type: "VARCHAR" },
      { name: "m", type: "BOOLEAN" },
      { name: "first", type: "TIMESTAMP" },
      { name: "k", type: "BIGINT" },
    ]);
    expect(grouped.rows).toEqual([
      ["p", true, "2023-11-14 22:13:20", 2],
      ["q", true, "2020-09-13 12:26:40", 1],
    ]);
    // a plain column keeps its declared type under any name
    const plain = await same(
      "SELECT flag AS k, ts AS flag FROM flags ORDER BY ts NULLS LAST LIMIT 2",
    );
    expect(plain.columns).toEqual([
      { name: "k", type: "BOOLEAN" },
      { name: "flag", type: "TIMESTAMP" },
    ]);
    expect(plain.rows).toEqual([
      [null, "2020-09-13 12:26:40"],
      [true, "2023-11-14 22:13:20"],
    ]);
  });

  it("keeps timestamps' microseconds: distinct values stay distinct and print exactly", async () => {
    const base = 1_704_067_200_000_000n; // 2024-01-01 00:00:00 UTC, in microseconds
    await load("micros", [
      {
        name: "ts",
        type: "timestamp",
        data: [
          base + 1n,
          base + 2n,
          base + 500n,
          base + 1000n,
          base + 1_000_000n,
          base + 2n,
          null,
          base + 1_250_999n,
        ],
      },
      { name: "n", type: "int64", data: [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n] },
    ]);
    expect(
      (await same("SELECT count(DISTINCT ts), count(ts), min(ts), max(ts) FROM micros")).rows,
    ).toEqual([[6, 7, "2024-01-01 00:00:00.000001", "2024-01-01 00:00:01.250999"]]);
    const ordered = await same("SELECT ts, n FROM micros ORDER BY ts DESC, n LIMIT 10");
    expect(ordered.columns).toEqual([
      { name: "ts", type: "TIMESTAMP" },
      { name: "n", type: "BIGINT" },
    ]);
    expect(ordered.rows).toEqual([
      ["2024-01-01 00:00:01.250999", 8],
      ["2024-01-01 00:00:01", 5], // whole seconds and whole milliseconds print as before
      ["2024-01-01 00:00:00.001", 4],
      ["2024-01-01 00:00:00.000500", 3],
      ["2024-01-01 00:00:00.000002", 2],
      ["2024-01-01 00:00:00.000002", 6],
      ["2024-01-01 00:00:00.000001", 1],
      [null, 7],
    ]);
    expect(
      (
        await same(
          "SELECT ts, count(*) FROM micros WHERE ts > '2024-01-01 00:00:00.000001' AND ts < '2024-01-01 00:00:00.001' GROUP BY ts",
        )
      ).rows,
    ).toEqual([
      ["2024-01-01 00:00:00.000002", 2],
      ["2024-01-01 00:00:00.000500", 1],
    ]);
    // SQLite's date functions read the fraction (to the millisecond, as SQLite does): a derived key on the fast path
    expect(
      (await same("SELECT strftime('%f', ts) AS f, count(*) FROM micros GROUP BY f ORDER BY f"))
        .rows.length,
    ).toBeGreaterThan(1);
  });

  it("counts a join's hash table against the columnar budget: over it, SQLite answers", async () => {
    const N = 2000;
    await load("facts", [
      { name: "k", type: "int64", data: Array.from({ length: N }, (_, i) => BigInt(i % 1500)) },
      { name: "v", type: "int64", data: Array.from({ length: N }, (_, i) => BigInt(i)) },
    ]);
    await load("dims", [
      { name: "k", type: "int64", data: Array.from({ length: 1500 }, (_, i) => BigInt(i)) },
      { name: "label", type: "string", data: Array.from({ length: 1500 }, (_, i) => `d${i % 4}`) },
    ]);
    const text =
      "SELECT d.label, count(*), sum(f.v) FROM facts f JOIN dims d ON d.k = f.k GROUP BY d.label ORDER BY 1";
    const roomy = await same(text);
    expect(roomy.rows.length).toBe(4);
    // the columns take 4 bytes a row (2 × 2000 + 1500 rows) and 1 a row (labels' codes): 25 kB; a
    // hash of 1500 keys does not fit in the 15 kB left of a 40 kB budget
    await same(text, false, 40_000);
  });
});

describe("kernels on values the loader never stores (±Infinity), against the engine's SQLite", () => {
  it("top-N orders NULL, -Infinity, numbers, +Infinity exactly as SQLite in every direction and NULLS placement; sums over infinities are SQLite's", async () => {
    const values = [3, null, Infinity, -Infinity, 0, null, -2.5, Infinity, 1e308, -Infinity];
    await runInDurableObject(stub, (_instance: QueryEngine, state) => {
      const sql = state.storage.sql;
      sql.exec('CREATE TABLE "cx_inf" ("id" BIGINT, "x" DOUBLE)');
      values.forEach((x, id) => sql.exec('INSERT INTO "cx_inf" VALUES (?, ?)', id, x));
      const cols = new Map<string, Column>();
      // as the engine reads them: id an INTEGER column, x a REAL one
      cols.set("id", readColumn(sql, "cx_inf", "id", "integer", values.length)!);
      cols.set("x", readColumn(sql, "cx_inf", "x", "real", values.length)!);
      const schema = new Map([
        [
          "cx_inf",
          new Map([
            ["id", "id"],
            ["x", "x"],
          ]),
        ],
      ]);
      let checked = 0;
      for (const dir of ["", " ASC", " DESC"]) {
        for (const nulls of ["", " NULLS FIRST", " NULLS LAST"]) {
          for (const limit of [3, 10]) {
            const text = `SELECT id, x FROM cx_inf ORDER BY x${dir}${nulls} LIMIT ${limit}`;
            const plan = planFast(text, schema);
            expect(plan, text).not.toBeNull();
            const fast = runFast(plan!, [{ rows: values.length, cols }], new Map());
            const slow = [...sql.exec(text.replace("cx_inf", '"cx_inf"')).raw()];
            expect(fast?.rows, text).toEqual(slow);
            checked++;
          }
        }
      }
      expect(checked).toBe(18);
      // sums and extremes with infinities: SQLite's sum skips a non-finite error term
      for (const text of [
        "SELECT sum(x), min(x), max(x), count(x) FROM cx_inf",
        "SELECT sum(x) FROM cx_inf WHERE x > 0",
      ]) {
        const fast = runFast(planFast(text, schema)!, [{ rows: values.length, cols }], new Map());
        const slow = [...sql.exec(text.replace("cx_inf", '"cx_inf"')).raw()];
        expect(fast?.rows, text).toEqual(slow);
      }
    });
  });
});
