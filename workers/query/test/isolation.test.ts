// Issue #12 for SQL: no dataset and no statement may break anyone else's queries.
// A dataset that cannot be loaded, or is named like an SQL word, fails only the queries
// that read it; names differing only in case never answer each other's rows; the engine's
// own tables cannot be read under any spelling; what cannot be bounded is refused first.
import { env, exports } from "cloudflare:workers";
import { parquetWriteBuffer } from "hyparquet-writer";
import { describe, expect, it } from "vitest";
import { schemaFingerprint } from "../../../shared/dataset";
import type { Manifest, SchemaField } from "../../../shared/types";
import { engineFailure } from "../src/engine-errors";
import { checkReadOnly } from "../src/guard";
import app from "../src/index";
import type { QueryEngine } from "../src/query-engine";

const SCHEMA: SchemaField[] = [
  { name: "id", type: "int64", nullable: false },
  { name: "label", type: "string", nullable: true },
];

async function putRows(
  key: string,
  ids: number[],
  label: (i: number) => string,
  rowGroupSize = 1000,
) {
  const buf = parquetWriteBuffer({
    columnData: [
      { name: "id", data: ids.map((i) => BigInt(i)), type: "INT64", nullable: false },
      { name: "label", data: ids.map(label), type: "STRING" },
    ],
    rowGroupSize,
  });
  await env.LAKE.put(key, buf);
  return { key, size: buf.byteLength, row_count: ids.length };
}

async function register(
  name: string,
  objects: { key: string; size: number; row_count: number }[],
  schema = SCHEMA,
) {
  const res = await env.CATALOG.fetch("http://catalog/catalog/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      name,
      schema,
      schema_fingerprint: await schemaFingerprint(schema),
      objects,
      mode: "replace",
    }),
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function sql(body: unknown, vars: Record<string, string> = {}) {
  const res = Object.keys(vars).length
    ? await app.fetch(
        new Request("http://query/sql", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        }),
        { ...env, ...vars },
        { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext,
      )
    : await exports.default.fetch("http://query/sql", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
  const text = await res.text();
  let json: any = text;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: json };
}

const ids = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe("table references are resolved from the parsed statement", () => {
  it("finds FROM / JOIN / comma / IN tables, in CTEs and subqueries, and leaves CTE names and strings out", () => {
    const names = (text: string) => checkReadOnly(text).tables.map((t) => t.name);
    expect(names("SELECT count(*) FROM people")).toEqual(["people"]);
    expect(
      names("SELECT count(*) AS \"select\", 'from x' FROM people WHERE name = 'count'"),
    ).toEqual(["people"]);
    expect(
      names("SELECT * FROM a, b JOIN c ON c.x = b.x LEFT OUTER JOIN [d] USING (x), `e` f"),
    ).toEqual(["a", "b", "c", "d", "e"]);
    expect(names("WITH w AS (SELECT * FROM people) SELECT * FROM w JOIN pets ON 1")).toEqual([
      "people",
      "pets",
    ]);
    expect(
      names(
        "SELECT * FROM (SELECT * FROM 'People') p WHERE id IN (SELECT id FROM pets) OR id IN toys",
      ),
    ).toEqual(["People", "pets", "toys"]);
    expect(names("SELECT * FROM (a CROSS JOIN b), (SELECT 1) s")).toEqual(["a", "b"]);
    expect(names("SELECT * FROM json_each('[1,2]') j, people")).toEqual(["people"]);
    expect(
      names("SELECT (SELECT max(x) FROM c), count(*) FROM d GROUP BY 1 ORDER BY 1, 2"),
    ).toEqual(["c", "d"]);
    expect(names("SELECT 1")).toEqual([]);
    expect(names("SELECT a IS DISTINCT FROM b, a IS NOT DISTINCT FROM c FROM t")).toEqual(["t"]);
    // the name as written, with its span and whether an alias follows
    const t = checkReadOnly('SELECT * FROM "Foo" f, bar WHERE 1').tables;
    expect(t).toEqual([
      { name: "Foo", from: 14, to: 19, aliased: true, alias: "f" },
      { name: "bar", from: 23, to: 26, aliased: false },
    ]);
    // a CTE reading its own name is recursive; the LIMIT in its own body is found
    expect(
      checkReadOnly(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 10) SELECT * FROM c",
      ).recursive,
    ).toEqual([{ name: "c", limit: 10 }]);
    expect(
      checkReadOnly("WITH c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT * FROM c LIMIT 5")
        .recursive,
    ).toEqual([{ name: "c", limit: null }]);
    expect(
      checkReadOnly("WITH c AS (SELECT * FROM people LIMIT 3) SELECT * FROM c").recursive,
    ).toEqual([]);
  });

  it("refuses the engine's own and SQLite's tables under every spelling", async () => {
    const spellings = [
      "SELECT * FROM sqlite_master",
      "SELECT * FROM SQLITE_MASTER",
      'SELECT * FROM "sqlite_master"',
      "SELECT * FROM [sqlite_schema]",
      "SELECT * FROM `sqlite_temp_master`",
      "SELECT * FROM 'sqlite_master'",
      "SELECT * FROM 'SQLite_Schema'",
      "SELECT * FROM main.sqlite_master",
      'SELECT * FROM main."sqlite_master"',
      "SELECT * FROM 'main'.'sqlite_master'",
      "SELECT * FROM temp.sqlite_master",
      "SELECT * FROM temp . sqlite_temp_master",
      "SELECT * FROM main.people",
      "SELECT * FROM '_lh_tables'",
      'SELECT * FROM "_LH_TABLES"',
      "SELECT * FROM `_lh_garbage`",
      "SELECT * FROM [_lh_migrations]",
      "SELECT * FROM '_cf_KV'",
      "SELECT * FROM pragma_table_info('people')",
      'SELECT * FROM "pragma_table_list"()',
      "SELECT * FROM 'pragma_database_list'()",
      "SELECT * FROM people, 'sqlite_master'",
      "SELECT * FROM people JOIN '_lh_tables' ON 1",
      "SELECT * FROM ('sqlite_master')",
      "SELECT (SELECT count(*) FROM 'sqlite_master')",
      "WITH x AS (SELECT * FROM 'sqlite_schema') SELECT * FROM x",
      "SELECT 1 WHERE 'x' IN '_lh_garbage'",
      "SELECT 1 WHERE 'x' IN main._lh_garbage",
      "SELECT * FROM people WHERE id IN (SELECT rootpage FROM 'sqlite_master')",
      "EXPLAIN QUERY PLAN SELECT * FROM 'sqlite_master'",
      "SELECT * FROM no_such_dataset",
    ];
    for (const text of spellings) {
      const { status, body } = await sql({ sql: text });
      expect(status, `${text}: ${JSON.stringify(body)}`).toBe(400);
      expect(body.error.message, text).toMatch(
        /reserved|schema-qualified|not allowed as a table|no such table/,
      );
      expect(JSON.stringify(body), text).not.toMatch(/CREATE TABLE|_lh_data_/);
    }
    // the same words as plain strings are just strings
    const ok = await sql({ sql: "SELECT 'sqlite_master' AS a, '_lh_tables' AS b" });
    expect(ok.status).toBe(200);
    expect(ok.body.rows).toEqual([["sqlite_master", "_lh_tables"]]);
  });
});

describe("one dataset cannot break everyone's SQL", () => {
  it("datasets named like SQL words, one unloadable (too many columns) and one with a huge field, fail only the queries that read them", async () => {
    const people = await putRows("datasets/people/v1/part-0.parquet", ids(4), (i) => `p${i}`);
    expect((await register("people", [people])).status).toBe(200);
    // `select`: 2500 columns (Durable Object SQLite holds at most 100); `count`: a 3 MB field (rows hold at most 2 MB)
    const wide: SchemaField[] = Array.from({ length: 2500 }, (_, i) => ({
      name: `c${i}`,
      type: "int64" as const,
      nullable: true,
    }));
    const selObj = await putRows("datasets/select/v1/part-0.parquet", ids(2), (i) => `s${i}`);
    const sel = await register("select", [selObj], wide);
    expect(sel.status, JSON.stringify(sel.body)).toBe(200); // the catalog's change notification still succeeds
    const big = await putRows("datasets/count/v1/part-0.parquet", [1, 2], (i) =>
      i === 2 ? "x".repeat(3_000_000) : "small",
    );
    const cnt = await register("count", [big]);
    expect(cnt.status, JSON.stringify(cnt.body)).toBe(200);
    const from = await putRows("datasets/from/v1/part-0.parquet", ids(3), (i) => `f${i}`);
    expect((await register("from", [from])).status).toBe(200);

    // queries that do not read them are untouched, even when they say `select`, `count` and `from`
    for (const text of [
      "SELECT count(*) FROM people",
      "SELECT count(*) AS \"count\", 'select' AS s FROM people",
      'SELECT 1 AS "select"',
    ]) {
      const res = await sql({ sql: text });
      expect(res.status, `${text}: ${JSON.stringify(res.body)}`).toBe(200);
    }
    // reading them: a clear 422 naming the dataset and the reason (not 500), every time, fast
    for (let round = 0; round < 2; round++) {
      const a = await sql({ sql: 'SELECT * FROM "select"' });
      expect(a.status, JSON.stringify(a.body)).toBe(422);
      expect(a.body.error.code).toBe("dataset_unloadable");
      expect(a.body.error.message).toMatch(/"select".*2500 columns/);
      const b = await sql({ sql: "SELECT count(*) FROM [count] WHERE id > 0" });
      expect(b.status, JSON.stringify(b.body)).toBe(422);
      expect(b.body.error.code).toBe("dataset_unloadable");
      expect(b.body.error.message).toMatch(/"count".*row 2 .*column "label"/);
    }
    // a join with an unloadable dataset fails; the loadable SQL-word dataset reads under any quoting
    expect(
      (await sql({ sql: 'SELECT * FROM people JOIN "count" c ON c.id = people.id' })).status,
    ).toBe(422);
    for (const text of [
      'SELECT count(*) FROM "from"',
      "SELECT count(*) FROM [from]",
      "SELECT count(*) FROM `from` AS f",
      "SELECT count(*) FROM 'from'",
    ]) {
      const res = await sql({ sql: text });
      expect(res.status, `${text}: ${JSON.stringify(res.body)}`).toBe(200);
      expect(res.body.rows, text).toEqual([[3]]);
    }
    const joined = await sql({
      sql: 'SELECT "from".label, p.label FROM "from" JOIN people p ON p.id = "from".id ORDER BY 1',
    });
    expect(joined.body.rows).toEqual([
      ["f1", "p1"],
      ["f2", "p2"],
      ["f3", "p3"],
    ]);
    const after = await sql({ sql: "SELECT count(*) FROM people" });
    expect(after.body.rows).toEqual([[4]]);
  });

  it("names differing only in case never answer each other's rows", async () => {
    // The catalog refuses such a pair (409); the engine must be safe on its own: load both directly.
    const a = await putRows("datasets/Foo/v1/part-0.parquet", ids(2), () => "upper");
    const b = await putRows("datasets/foo/v1/part-0.parquet", ids(5), () => "lower");
    const manifest = (name: string, obj: typeof a): Manifest => ({
      dataset_id: name,
      name,
      schema: SCHEMA,
      schema_fingerprint: "x",
      objects: [obj],
      row_count: obj.row_count,
      version: 1,
      created_at: new Date().toISOString(),
      updated_at: new Date().toISOString(),
    });
    const stub = env.QUERY_ENGINE.get(
      env.QUERY_ENGINE.idFromName("replica-0"),
    ) as DurableObjectStub<QueryEngine>;
    expect(await stub.changed("Foo", 1, manifest("Foo", a), true)).toMatchObject({ loaded: true });
    expect(await stub.changed("foo", 1, manifest("foo", b), true)).toMatchObject({ loaded: true });
    const run = async (text: string, columnar = false, columnarBytes = 1e7) => {
      const checked = checkReadOnly(text);
      return stub.query({
        sql: checked.sql,
        params: [],
        max_rows: 100,
        timeout_ms: 10_000,
        columnar,
        columnar_cache_bytes: columnarBytes,
        tables: checked.tables,
        max_join_rows: 1e9,
        kind: checked.kind,
        datasets: [
          { name: "Foo", version: 1 },
          { name: "foo", version: 1 },
        ],
      });
    };
    for (const columnar of [false, true]) {
      expect(await run("SELECT count(*), min(label) FROM Foo", columnar)).toMatchObject({
        ok: true,
        result: { rows: [[2, "upper"]] },
      });
      expect(await run('SELECT count(*), min(label) FROM "foo"', columnar)).toMatchObject({
        ok: true,
        result: { rows: [[5, "lower"]] },
      });
    }
    // columns that would not fit the columnar cache's budget (it bounds the isolate's memory): SQLite answers, the same
    expect(await run('SELECT count(*), max(id) FROM "foo"', true, 8)).toMatchObject({
      ok: true,
      engine: "sqlite",
      result: { rows: [[5, 5]] },
    });
    expect(await run('SELECT count(*), max(id) FROM "foo"', true)).toMatchObject({
      ok: true,
      engine: "columnar",
      result: { rows: [[5, 5]] },
    });
    expect(
      await run("SELECT (SELECT count(*) FROM Foo), (SELECT count(*) FROM [foo])"),
    ).toMatchObject({ ok: true, result: { rows: [[2, 5]] } });
    for (const spelling of ["FOO", '"fOO"', "'FOO'"]) {
      const ambiguous = await run(`SELECT count(*) FROM ${spelling}`);
      expect(ambiguous, spelling).toMatchObject({
        ok: false,
        error: { code: "ambiguous_table", status: 400 },
      });
      if (!ambiguous.ok) expect(ambiguous.error.message).toMatch(/"Foo", "foo"/);
    }
    // through the Worker the catalog is the truth: the direct loads are not in it and go away
    const res = await sql({ sql: "SELECT * FROM Foo" });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/no such table: Foo/);
  });
});

describe("runaway statements are refused or stopped", () => {
  it("refuses a recursive CTE without a LIMIT in its own body, naming the rule", async () => {
    const cases = [
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
      "WITH c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c ORDER BY x DESC LIMIT 1",
      "SELECT * FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT ?) SELECT x FROM c)",
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 100000000000) SELECT max(x) FROM c",
    ];
    for (const text of cases) {
      const { status, body } = await sql({ sql: text, params: [5] });
      expect(status, `${text}: ${JSON.stringify(body)}`).toBe(400);
      expect(body.error.code).toBe("query_unbounded");
      expect(body.error.message).toMatch(/max_recursive_rows/);
    }
    const ok = await sql({
      sql: "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 1000) SELECT count(*), max(x) FROM c",
    });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.rows).toEqual([[1000, 1000]]);
    // the engine keeps serving
    expect((await sql({ sql: "SELECT count(*) FROM people" })).body.rows).toEqual([[4]]);
  });

  it("refuses a cartesian product over the row budget before running it, naming the key", async () => {
    const vars = { LH_QUERYD_MAX_JOIN_ROWS: "10" };
    const cross = await sql({ sql: "SELECT count(*) FROM people a, people b, people c" }, vars);
    expect(cross.status, JSON.stringify(cross.body)).toBe(400);
    expect(cross.body.error.code).toBe("query_too_large");
    expect(cross.body.error.message).toMatch(/\[queryd\]\.max_join_rows = 10/);
    expect(cross.body.error.message).toMatch(/people \(4 rows\)/);
    const nonEqui = await sql(
      { sql: "SELECT count(*) FROM people a JOIN people b ON a.id < b.id" },
      vars,
    );
    expect(nonEqui.status).toBe(400);
    // within the default budget the same query runs
    const fine = await sql({ sql: "SELECT count(*) FROM people a, people b, people c" });
    expect(fine.status).toBe(200);
    expect(fine.body.rows).toEqual([[64]]);
  });

  it("maps a replica call that the platform ended (CPU or memory limit) to a 4xx naming the limit", () => {
    const cpu = engineFailure(
      new Error("Durable Object exceeded its CPU time limit and was reset."),
      5000,
    );
    expect(cpu).toMatchObject({ code: "query_timeout", status: 400 });
    expect(cpu.message).toMatch(/CPU limit \(\[limits\] cpu_ms/);
    expect(engineFailure(new Error("Worker exceeded CPU time limit."), 5000)).toMatchObject({
      code: "query_timeout",
      status: 400,
    });
    expect(
      engineFailure(
        new Error("Durable Object's isolate exceeded its memory limit and was reset."),
        5000,
      ),
    ).toMatchObject({ code: "query_too_large", status: 400 });
    expect(engineFailure(new Error("Network connection lost."), 5000)).toMatchObject({
      code: "service_unavailable",
      status: 503,
    });
  });

  it("a query on one dataset does not wait for another dataset's load", async () => {
    const big = await putRows(
      "datasets/big/v1/part-0.parquet",
      ids(200_000),
      (i) => `row ${i % 1000}`,
      200_000,
    );
    // The registration answers without waiting for the engine to load (the catalog notifies it in
    // the background); a query on another dataset answers while that load runs.
    const registered = await register("big", [big]);
    expect(registered.status).toBe(200);
    const res = await sql({ sql: "SELECT count(*) FROM people" });
    expect(res.body.rows).toEqual([[4]]);
    const all = await sql({ sql: "SELECT count(*) FROM big" });
    expect(all.body.rows).toEqual([[200_000]]);
  });
});
