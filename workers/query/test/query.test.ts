// The query Worker inside workerd with the real catalog and storage Workers beside it:
// Parquet written into LAKE (hyparquet-writer), registered with the catalog (which
// notifies this Worker), then queried through POST /sql.
import { env, exports } from "cloudflare:workers";
import { parquetWriteBuffer } from "hyparquet-writer";
import { describe, expect, it } from "vitest";
import { schemaFingerprint } from "../../../shared/dataset";
import type { SchemaField } from "../../../shared/types";
import { checkReadOnly } from "../src/guard";
import app from "../src/index";

const PEOPLE_SCHEMA: SchemaField[] = [
  { name: "id", type: "int64", nullable: false },
  { name: "name", type: "string", nullable: true },
  { name: "score", type: "float64", nullable: true },
  { name: "active", type: "bool", nullable: true },
  { name: "joined", type: "timestamp", nullable: true },
];

interface Person {
  id: number;
  name: string | null;
  score: number | null;
  active: boolean | null;
  joined: string | null;
}

const BASE: Person[] = [
  { id: 1, name: "Alice", score: 91.5, active: true, joined: "2024-01-02T03:04:05Z" },
  { id: 2, name: "Bob", score: null, active: false, joined: "2024-02-03T00:00:00.250Z" },
  { id: 3, name: null, score: 77, active: null, joined: null },
  { id: 4, name: 'Dan "the, man"', score: -3.25, active: true, joined: "2023-12-31T23:59:59Z" },
];

async function putParquet(
  key: string,
  people: Person[],
  rowGroupSize = 2,
): Promise<{ key: string; size: number; row_count: number }> {
  const buf = parquetWriteBuffer({
    columnData: [
      { name: "id", data: people.map((p) => BigInt(p.id)), type: "INT64", nullable: false },
      { name: "name", data: people.map((p) => p.name), type: "STRING" },
      { name: "score", data: people.map((p) => p.score), type: "DOUBLE" },
      { name: "active", data: people.map((p) => p.active), type: "BOOLEAN" },
      {
        name: "joined",
        data: people.map((p) => (p.joined ? new Date(p.joined) : null)),
        type: "TIMESTAMP",
      },
    ],
    rowGroupSize,
  });
  await env.LAKE.put(key, buf);
  return { key, size: buf.byteLength, row_count: people.length };
}

async function register(
  name: string,
  objects: { key: string; size: number; row_count: number }[],
  schema = PEOPLE_SCHEMA,
  mode = "replace",
) {
  const res = await env.CATALOG.fetch("http://catalog/catalog/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      name,
      schema,
      schema_fingerprint: await schemaFingerprint(schema),
      objects,
      mode,
    }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as { version: number };
}

async function sql(body: unknown, headers: Record<string, string> = {}) {
  const res = await exports.default.fetch("http://query/sql", {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let json: any = text;
  try {
    json = JSON.parse(text);
  } catch {
    // CSV
  }
  return { status: res.status, body: json, headers: res.headers };
}

async function cached(): Promise<{ name: string; version: number; row_count: number }[]> {
  const res = await exports.default.fetch("http://query/sql/datasets");
  const body = (await res.json()) as {
    replicas: { tables: { name: string; version: number; row_count: number }[] }[];
  };
  return body.replicas[0]!.tables;
}

describe("the read-only guard", () => {
  it("accepts one SELECT / WITH / VALUES / EXPLAIN, with comments, strings and a trailing semicolon", () => {
    expect(checkReadOnly("SELECT 1;").sql).toBe("SELECT 1");
    expect(checkReadOnly("  -- hi\nWITH a AS (SELECT 1) SELECT * FROM a ;; ").kind).toBe("with");
    expect(checkReadOnly("VALUES (1), (2)").kind).toBe("values");
    expect(checkReadOnly("EXPLAIN QUERY PLAN SELECT * FROM people").kind).toBe("explain");
    expect(
      checkReadOnly("SELECT 'drop; insert' AS x, replace(name, 'a', 'b') FROM \"People\"")
        .identifiers,
    ).toContain("people");
    expect(checkReadOnly("SELECT CASE WHEN 1 THEN 2 END, sqlite_version()").kind).toBe("select");
  });

  it("refuses writes, PRAGMA, ATTACH, a second statement and the engine's own tables, naming the problem", () => {
    const cases: [string, RegExp][] = [
      ["INSERT INTO people VALUES (1)", /only SELECT, WITH, VALUES or EXPLAIN/],
      ["WITH x AS (SELECT 1) DELETE FROM people", /DELETE is not allowed/],
      ["PRAGMA table_info(people)", /only SELECT/],
      ["ATTACH DATABASE 'x' AS y", /only SELECT/],
      ["SELECT 1; SELECT 2", /only one statement/],
      ["SELECT * FROM _lh_tables", /_lh_tables is reserved/],
      ["SELECT * FROM sqlite_master", /sqlite_master is reserved/],
      ["SELECT * FROM pragma_table_list()", /pragma_table_list is reserved/],
      ["EXPLAIN DROP TABLE people", /EXPLAIN is allowed only before/],
      ["", /empty/],
      ["SELECT 'unterminated", /unterminated string literal/],
    ];
    for (const [text, message] of cases) expect(() => checkReadOnly(text), text).toThrow(message);
  });
});

describe("SQL over a registered dataset", () => {
  it("warms the dataset when the catalog registers it, before any query (in the background: registration does not wait)", async () => {
    const obj = await putParquet("datasets/people/v1/part-0.parquet", BASE);
    const { version } = await register("people", [obj]);
    let tables = await cached();
    for (
      let i = 0;
      i < 100 &&
      !tables.some(
        (t: { name: string; version: number }) => t.name === "people" && t.version === version,
      );
      i++
    ) {
      await new Promise((r) => setTimeout(r, 100));
      tables = await cached();
    }
    expect(tables).toContainEqual(
      expect.objectContaining({ name: "people", version, row_count: 4 }),
    );
  });

  it("answers SELECT * FROM people ORDER BY id with typed columns, booleans, timestamps and NULLs", async () => {
    const { status, body } = await sql({ sql: "SELECT * FROM people ORDER BY id" });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.columns).toEqual([
      { name: "id", type: "BIGINT" },
      { name: "name", type: "VARCHAR" },
      { name: "score", type: "DOUBLE" },
      { name: "active", type: "BOOLEAN" },
      { name: "joined", type: "TIMESTAMP" },
    ]);
    expect(body.rows[0]).toEqual([1, "Alice", 91.5, true, "2024-01-02 03:04:05"]);
    expect(body.rows[1]).toEqual([2, "Bob", null, false, "2024-02-03 00:00:00.250"]);
    expect(body.rows[2]).toEqual([3, null, 77, null, null]);
    expect(body.row_count).toBe(4);
    expect(body.truncated).toBe(false);
    expect(typeof body.elapsed_ms).toBe("number");
  });

  it("types expressions from their values, binds params safely, caps rows, and speaks CSV", async () => {
    const agg = await sql({
      sql: "SELECT count(*) AS n, avg(score) AS mean, max(name) AS top, min(date(joined)) AS d FROM people WHERE id >= ?",
      params: [2],
    });
    expect(agg.status, JSON.stringify(agg.body)).toBe(200);
    expect(agg.body.columns.map((c: any) => c.type)).toEqual([
      "BIGINT",
      "DOUBLE",
      "VARCHAR",
      "VARCHAR",
    ]);
    expect(agg.body.rows).toEqual([[3, 36.875, 'Dan "the, man"', "2023-12-31"]]);
    const injected = await sql({
      sql: "SELECT count(*) AS n FROM people WHERE name = ?",
      params: ["x' OR '1'='1"],
    });
    expect(injected.body.rows).toEqual([[0]]);
    const named = await sql({
      sql: "SELECT name FROM people WHERE active = ?1 AND score > ?2 ORDER BY id",
      params: [true, -10],
    });
    expect(named.body.rows).toEqual([["Alice"], ['Dan "the, man"']]);
    const capped = await sql({ sql: "SELECT id FROM people ORDER BY id", max_rows: 2 });
    expect(capped.body.rows).toEqual([[1], [2]]);
    expect(capped.body.truncated).toBe(true);
    expect(capped.body.row_count).toBe(2);
    const csv = await sql(
      { sql: "SELECT id, name, active FROM people ORDER BY id" },
      { accept: "text/csv" },
    );
    expect(csv.status).toBe(200);
    expect(csv.headers.get("content-type")).toMatch(/text\/csv/);
    expect(csv.body).toBe(
      'id,name,active\r\n1,Alice,true\r\n2,Bob,false\r\n3,,\r\n4,"Dan ""the, man""",true\r\n',
    );
    const wrongCount = await sql({ sql: "SELECT ? + ?", params: [1] });
    expect(wrongCount.status).toBe(400);
    const badParam = await sql({ sql: "SELECT ?", params: [{ a: 1 }] });
    expect(badParam.status).toBe(400);
    expect(badParam.body.error.message).toMatch(/params/);
    const noSql = await sql({ query: "SELECT 1" });
    expect(noSql.status).toBe(400);
    expect(noSql.body.error.message).toMatch(/body\.sql/);
  });

  it("answers 400 with the engine's message for bad statements, and keeps serving", async () => {
    const cases: [string, RegExp][] = [
      ["DELETE FROM people", /only SELECT/],
      ["PRAGMA writable_schema = 1", /only SELECT/],
      ["ATTACH 'x.db' AS x", /only SELECT/],
      ["SELECT 1; DROP TABLE people", /only one statement/],
      ["SELEC * FROM people", /only SELECT/],
      ["SELECT * FROM people WHERE", /incomplete input|syntax error/],
      ["SELECT * FROM nowhere", /no such table: nowhere/],
      ["SELECT shoe_size FROM people", /no such column: shoe_size/],
      ["SELECT * FROM _lh_tables", /reserved/],
    ];
    for (const [text, message] of cases) {
      const { status, body } = await sql({ sql: text });
      expect(status, text).toBe(400);
      expect(body.error.code, text).toMatch(/bad_request/);
      expect(body.error.message, text).toMatch(message);
    }
    const after = await sql({ sql: "SELECT count(*) FROM people" });
    expect(after.body.rows).toEqual([[4]]);
  });

  it("sees a new version at the very next query, and drops the old table", async () => {
    const more = await putParquet("datasets/people/v2/part-1.parquet", [
      { id: 5, name: "Eve", score: 1, active: true, joined: null },
    ]);
    const { version } = await register("people", [more], PEOPLE_SCHEMA, "append");
    const { body } = await sql({ sql: "SELECT count(*), max(name) FROM people" });
    expect(body.rows).toEqual([[5, "Eve"]]);
    const replaced = await putParquet("datasets/people/v3/part-0.parquet", [
      { id: 9, name: "Zed", score: 0, active: false, joined: null },
    ]);
    const v3 = await register("people", [replaced]);
    expect(v3.version).toBeGreaterThan(version);
    const after = await sql({ sql: "SELECT id, name FROM people" });
    expect(after.body.rows).toEqual([[9, "Zed"]]);
    const tables = await cached();
    expect(tables.filter((t) => t.name === "people")).toEqual([
      expect.objectContaining({ version: v3.version, row_count: 1 }),
    ]);
  });

  it("catches up from the catalog when a change notification was missed", async () => {
    // The engine's copy is dropped by a stray notification; the catalog still has version 1.
    const obj = await putParquet("datasets/pets/v1/part-0.parquet", BASE.slice(0, 2));
    await register("pets", [obj]);
    const res = await exports.default.fetch("http://query/sql/datasets/changed", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "pets", version: null, manifest: null }), // pretend: a stale "deleted" that drops the cache
    });
    expect(res.status).toBe(200);
    const { body } = await sql({ sql: "SELECT count(*) FROM pets" });
    expect(body.rows).toEqual([[2]]); // reloaded from the catalog's current version
  });

  it("joins two datasets", async () => {
    const { body } = await sql({
      sql: 'SELECT p.name, q.name FROM people p JOIN "pets" q ON q.id = p.id - 8 ORDER BY 1',
    });
    expect(body.rows).toEqual([["Zed", "Alice"]]);
  });

  it("gives 'no such table' once the dataset is deleted", async () => {
    const del = await env.CATALOG.fetch("http://catalog/catalog/manifest/pets", {
      method: "DELETE",
    });
    expect(del.status).toBe(204);
    const { status, body } = await sql({ sql: "SELECT * FROM pets" });
    expect(status).toBe(400);
    expect(body.error.message).toMatch(/no such table: pets/);
    expect((await cached()).map((t) => t.name)).not.toContain("pets");
  });

  it("stops a query that runs too long with a clear error; another replica keeps answering", async () => {
    // rows trickle out (one per 100k steps): the engine yields between them and checks the clock
    const slow =
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 10000000) SELECT x FROM c WHERE x % 100000 = 0";
    const envWithReplicas = { ...env, LH_QUERYD_REPLICAS: "2" };
    const call = (body: unknown) =>
      app.fetch(
        new Request("http://query/sql", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        }),
        envWithReplicas,
        { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext,
      );
    const slowAnswer = call({ sql: slow, timeout_ms: 100 });
    const fast = await call({ sql: "SELECT count(*) FROM people" });
    expect(fast.status).toBe(200);
    expect(((await fast.json()) as any).rows).toEqual([[1]]);
    const res = await slowAnswer;
    expect(res.status).toBe(400);
    const body = (await res.json()) as any;
    expect(body.error.code).toBe("query_timeout");
    expect(body.error.message).toMatch(/longer than 100 ms/);
  });
});

describe("the columnar fast path answers exactly like SQLite", () => {
  const KINDS = ["alpha", "beta", "gamma", null, "delta"];
  const N = 3000;
  async function putMetrics() {
    const id = Array.from({ length: N }, (_, i) => BigInt(i));
    const kind = Array.from({ length: N }, (_, i) => KINDS[(i * 7) % KINDS.length]!);
    const city = Array.from({ length: N }, (_, i) => ["Oslo", "Lima", "Pune"][(i * 13) % 3]!);
    const value = Array.from({ length: N }, (_, i) =>
      i % 11 === 0 ? null : ((i * 37) % 1000) / 8 - 40,
    );
    const hits = Array.from({ length: N }, (_, i) =>
      i % 17 === 0 ? null : BigInt((i * 31) % 500),
    );
    const flag = Array.from({ length: N }, (_, i) => (i % 5 === 0 ? null : i % 3 === 0));
    const at = Array.from({ length: N }, (_, i) =>
      i % 23 === 0 ? null : new Date(Date.UTC(2024, 0, 1) + i * 3_600_000),
    );
    const buf = parquetWriteBuffer({
      columnData: [
        { name: "id", data: id, type: "INT64", nullable: false },
        { name: "kind", data: kind, type: "STRING" },
        { name: "city", data: city, type: "STRING" },
        { name: "value", data: value, type: "DOUBLE" },
        { name: "hits", data: hits, type: "INT64" },
        { name: "flag", data: flag, type: "BOOLEAN" },
        { name: "at", data: at, type: "TIMESTAMP" },
      ],
      rowGroupSize: 1000,
    });
    await env.LAKE.put("datasets/metrics/v1/part-0.parquet", buf);
    const schema: SchemaField[] = [
      { name: "id", type: "int64", nullable: false },
      { name: "kind", type: "string", nullable: true },
      { name: "city", type: "string", nullable: true },
      { name: "value", type: "float64", nullable: true },
      { name: "hits", type: "int64", nullable: true },
      { name: "flag", type: "bool", nullable: true },
      { name: "at", type: "timestamp", nullable: true },
    ];
    await register(
      "metrics",
      [{ key: "datasets/metrics/v1/part-0.parquet", size: buf.byteLength, row_count: N }],
      schema,
    );
  }

  const FAST = [
    "SELECT count(*) FROM metrics",
    "SELECT count(*) AS n FROM metrics WHERE hits > 250",
    "SELECT count(*), avg(value), sum(hits), min(value), max(hits) FROM metrics WHERE kind = 'beta' AND value >= 0",
    "SELECT count(value), count(hits), count(kind), count(flag), count(at) FROM metrics",
    "SELECT kind, count(*) AS n, avg(value) AS v, sum(hits) FROM metrics GROUP BY kind",
    "SELECT kind, city, count(*) AS n, max(value) FROM metrics GROUP BY kind, city ORDER BY n DESC, kind, city LIMIT 7",
    "SELECT city, count(DISTINCT kind), count(DISTINCT hits), min(kind), max(kind) FROM metrics GROUP BY city ORDER BY 1 DESC",
    "SELECT kind, sum(value) FROM metrics WHERE at >= '2024-02-01' AND at < '2024-03-01 12:00:00' GROUP BY kind ORDER BY kind",
    "SELECT hits, count(*) AS n FROM metrics WHERE id < 200 GROUP BY hits ORDER BY n DESC, hits LIMIT 5 OFFSET 2",
    "SELECT kind, count(*) AS n FROM metrics GROUP BY kind HAVING count(*) > 500 AND avg(value) < 100 ORDER BY n",
    "SELECT flag, count(*) FROM metrics GROUP BY flag",
    "SELECT sum(value), avg(hits), min(at), max(at) FROM metrics WHERE kind <> 'alpha' AND city != 'Lima'",
    "SELECT count(*), sum(hits), avg(value) FROM metrics WHERE value > 1000",
    "SELECT kind, count(*) FROM metrics WHERE value > 1000 GROUP BY kind",
    'SELECT "kind" AS k, COUNT(*) AS c FROM "metrics" WHERE hits <= -1.5 OR hits = 3 GROUP BY kind',
    // table aliases, derived keys (functions of a text column, evaluated per distinct value), top-N, IS NULL
    "SELECT m.kind, count(*) FROM metrics m GROUP BY m.kind",
    "SELECT substr(kind, 1, 1), count(*) FROM metrics GROUP BY 1",
    "SELECT strftime('%Y-%m', at) AS month, count(*) AS n, avg(value), sum(hits) FROM metrics GROUP BY month ORDER BY month",
    "SELECT substr(at, 1, 10) AS day, count(DISTINCT kind) AS kinds, min(city) FROM metrics GROUP BY day ORDER BY kinds DESC, day NULLS LAST LIMIT 5",
    "SELECT upper(city) AS c, lower(kind) AS k, count(*) FROM metrics GROUP BY c, k ORDER BY 3 DESC, 1, 2",
    "SELECT count(DISTINCT substr(at, 1, 7)), count(DISTINCT kind), count(DISTINCT city) FROM metrics",
    "SELECT kind FROM metrics ORDER BY id LIMIT 3",
    "SELECT kind, id, value FROM metrics ORDER BY value DESC NULLS LAST, id LIMIT 7 OFFSET 2",
    "SELECT id, kind, at FROM metrics WHERE kind IS NOT NULL AND value < 0 ORDER BY kind DESC, at NULLS FIRST, id LIMIT 9",
    "SELECT count(*) FROM metrics WHERE kind IS NULL",
    "SELECT sum(id), avg(id), min(id), max(id), count(id), count(*) FROM metrics WHERE kind = 'beta'",
    "SELECT sum(id), min(value), max(value) FROM metrics",
    "SELECT city, kind, sum(id), min(id), max(id), avg(value) FROM metrics GROUP BY city, kind ORDER BY 1, 2 NULLS LAST",
    "SELECT count(*), count(value), sum(hits) FROM metrics WHERE value IS NOT NULL AND hits IS NULL",
    "SELECT count(*), sum(value), min(kind) FROM metrics WHERE kind = 'nope'",
    "SELECT kind, count(*) FROM metrics WHERE kind = 'nope' GROUP BY kind",
    // joins to a small table (duplicate keys, unmatched keys, NULL keys, filters on both sides)
    "SELECT c.country, count(*) AS n, avg(m.value) FROM metrics m JOIN places c ON c.city = m.city GROUP BY c.country ORDER BY n DESC, c.country",
    "SELECT c.country, m.kind, count(*), max(m.hits) FROM metrics m INNER JOIN places AS c ON m.city = c.city WHERE m.value > 0 AND c.country <> 'IT' GROUP BY c.country, m.kind ORDER BY 1, 2",
    "SELECT count(*), min(places.country) FROM places JOIN metrics ON metrics.city = places.city",
    "SELECT count(*), sum(m.value), count(DISTINCT k.kind) FROM metrics m JOIN metrics k ON k.id = m.hits WHERE k.kind IS NOT NULL",
    "SELECT c.country, count(*) FROM metrics m JOIN places c ON c.city = m.city WHERE c.country = 'ZZ' GROUP BY c.country",
  ];

  async function putPlaces() {
    // a small dimension table: Lima twice (each metrics row joins both), Pune missing, a NULL key
    const city = ["Oslo", "Lima", "Lima", "Rome", null];
    const country = ["NO", "PE", "PE2", "IT", "XX"];
    const buf = parquetWriteBuffer({
      columnData: [
        { name: "city", data: city, type: "STRING" },
        { name: "country", data: country, type: "STRING" },
      ],
    });
    await env.LAKE.put("datasets/places/v1/part-0.parquet", buf);
    const schema: SchemaField[] = [
      { name: "city", type: "string", nullable: true },
      { name: "country", type: "string", nullable: true },
    ];
    await register(
      "places",
      [{ key: "datasets/places/v1/part-0.parquet", size: buf.byteLength, row_count: city.length }],
      schema,
    );
  }

  it("uses the fast path for filter/aggregate/GROUP BY/top-N/join queries, with the same answers", async () => {
    await putMetrics();
    await putPlaces();
    let fastCount = 0;
    for (const text of FAST) {
      const fast = await sql({ sql: text });
      const slow = await sql({ sql: text, engine: "sqlite" });
      expect(fast.status, `${text}: ${JSON.stringify(fast.body)}`).toBe(200);
      expect(slow.status, `${text}: ${JSON.stringify(slow.body)}`).toBe(200);
      expect(slow.body.engine).toBe("sqlite");
      if (fast.body.engine === "columnar") fastCount++;
      else expect(text).toMatch(/ OR /);
      expect(fast.body.columns, text).toEqual(slow.body.columns);
      expect(fast.body.rows.length, text).toBe(slow.body.rows.length);
      fast.body.rows.forEach((row: unknown[], r: number) =>
        row.forEach((v, c) => {
          const w = slow.body.rows[r][c];
          if (typeof v === "number" && typeof w === "number")
            expect(Math.abs(v - w), `${text} [${r}][${c}]`).toBeLessThanOrEqual(
              1e-9 * Math.max(1, Math.abs(w)),
            );
          else expect(v, `${text} [${r}][${c}]`).toEqual(w);
        }),
      );
    }
    // all but the OR query take the fast path
    expect(fastCount).toBe(FAST.length - 1);
  });

  it("reads a Parquet DATE column as DATE (`YYYY-MM-DD`), and groups by its month on the fast path", async () => {
    const N = 400;
    const day = Array.from({ length: N }, (_, i) =>
      i % 9 === 0 ? null : new Date(Date.UTC(2023, 10, 1) + i * 86_400_000),
    );
    const amount = Array.from({ length: N }, (_, i) => BigInt((i * 7) % 50));
    const buf = parquetWriteBuffer({
      columnData: [
        { name: "day", data: day },
        { name: "amount", data: amount },
      ],
      // Parquet DATE: INT32 days since the epoch
      schema: [
        { name: "root", num_children: 2 },
        {
          name: "day",
          type: "INT32",
          converted_type: "DATE",
          logical_type: { type: "DATE" },
          repetition_type: "OPTIONAL",
        },
        { name: "amount", type: "INT64", repetition_type: "REQUIRED" },
      ],
      rowGroupSize: 150,
    });
    await env.LAKE.put("datasets/days/v1/part-0.parquet", buf);
    const schema: SchemaField[] = [
      { name: "day", type: "date", nullable: true },
      { name: "amount", type: "int64", nullable: false },
    ];
    await register(
      "days",
      [{ key: "datasets/days/v1/part-0.parquet", size: buf.byteLength, row_count: N }],
      schema,
    );
    const first = await sql({
      sql: "SELECT day, amount FROM days WHERE day IS NOT NULL ORDER BY day LIMIT 2",
    });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body.columns).toEqual([
      { name: "day", type: "DATE" },
      { name: "amount", type: "BIGINT" },
    ]);
    expect(first.body.rows).toEqual([
      ["2023-11-02", 7],
      ["2023-11-03", 14],
    ]);
    for (const text of [
      "SELECT substr(day, 1, 7) AS month, count(*) AS n, sum(amount) FROM days GROUP BY month ORDER BY month",
      "SELECT strftime('%Y', day) AS y, strftime('%m', day) AS m, count(day), avg(amount) FROM days GROUP BY y, m ORDER BY y NULLS LAST, m",
      "SELECT count(DISTINCT day), count(DISTINCT substr(day, 1, 7)), min(day), max(day) FROM days",
      "SELECT day, amount FROM days WHERE day >= '2024-06-01' ORDER BY amount DESC, day LIMIT 4",
      "SELECT date(day, '+1 month') AS next, count(*) FROM days WHERE amount > 40 GROUP BY next ORDER BY 2 DESC, 1 LIMIT 3",
    ]) {
      const fast = await sql({ sql: text });
      const slow = await sql({ sql: text, engine: "sqlite" });
      expect(fast.status, `${text}: ${JSON.stringify(fast.body)}`).toBe(200);
      expect(fast.body.engine, text).toBe("columnar");
      expect(fast.body.columns, text).toEqual(slow.body.columns);
      expect(fast.body.rows, text).toEqual(slow.body.rows);
      expect(fast.body.rows.length, text).toBeGreaterThan(0);
    }
  });

  it("leaves outer joins, numeric expressions, unbounded row scans, params and unknown columns to SQLite", async () => {
    for (const text of [
      "SELECT m.kind, count(*) FROM metrics m LEFT JOIN places c ON c.city = m.city GROUP BY m.kind",
      "SELECT hits + 1, count(*) FROM metrics GROUP BY 1",
      "SELECT kind FROM metrics ORDER BY id",
      "SELECT count(*) FROM metrics WHERE kind LIKE 'a%'",
      "SELECT strftime('%Y', 'now'), count(kind) FROM metrics GROUP BY 1",
      "SELECT count(*) FROM metrics m JOIN places c ON c.city = m.city OR c.country = m.kind",
    ]) {
      const res = await sql({ sql: text });
      expect(res.status, text).toBe(200);
      expect(res.body.engine, text).toBe("sqlite");
    }
    const withParam = await sql({
      sql: "SELECT count(*) FROM metrics WHERE hits > ?",
      params: [250],
    });
    expect(withParam.body.engine).toBe("sqlite");
    const bad = await sql({ sql: "SELECT count(nope) FROM metrics" });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/no such column: nope/);
  });
});
