// Cross-check: real CSVs (vega-datasets) and one with NULLs, booleans and times are
// ingested through the gateway; each query runs through POST /v1/sql and in DuckDB native
// over the very Parquet objects our ingest wrote (fetched from storage). Answers must be
// equal (floats within a relative 1e-9). Where the SQL dialects differ (date functions),
// the DuckDB text is given beside ours.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type System, startSystem } from "./harness";

const DATA = resolve(import.meta.dirname, "../../node_modules/vega-datasets/data");

// A CSV with the awkward cases: NULLs in every type, booleans, times of day, negative and float values, quotes.
const EVENTS =
  [
    "id,kind,amount,ok,ts,note",
    "1,click,10,true,2024-01-01T08:00:00Z,plain",
    "2,view,2.5,false,2024-01-01T09:30:00Z,",
    '3,click,,true,2024-01-02T23:59:59Z,"with, comma"',
    '4,buy,99.99,,2024-02-10T12:00:00Z,"quote ""q"""',
    "5,view,-1,false,,x",
    "6,,0,true,2024-02-11T00:00:00Z,",
    "7,buy,12,true,2024-03-01T06:15:00Z,late",
    "8,click,7,false,2024-03-01T06:15:00Z,",
  ].join("\n") + "\n";

interface Check {
  name: string;
  sql: string;
  duckdb?: string;
  /** answered by the columnar fast path (docs/sql.md), not SQLite */
  fast?: boolean;
  /** the answer may have no rows */
  empty?: boolean;
}

const CHECKS: Check[] = [
  // filters
  {
    name: "filter on float",
    sql: "SELECT date, precipitation FROM weather WHERE precipitation > 30 ORDER BY date",
  },
  {
    name: "filter on string + float",
    sql: "SELECT count(*) FROM weather WHERE weather = 'sun' AND temp_max >= 25",
  },
  {
    name: "IN and BETWEEN",
    sql: "SELECT iata, state FROM airports WHERE state IN ('HI', 'AK') AND latitude BETWEEN 19 AND 22 ORDER BY iata",
  },
  { name: "LIKE prefix", sql: "SELECT count(*) FROM airports WHERE name LIKE 'San %'" },
  {
    name: "timestamp range",
    sql: "SELECT count(*) FROM weather WHERE date >= '2013-06-01' AND date < '2013-09-01'",
  },
  // group by / order by / limit
  {
    name: "group by with count and avg",
    sql: "SELECT weather, count(*) AS n, avg(temp_max) AS t FROM weather GROUP BY weather ORDER BY weather",
  },
  {
    name: "group by two columns, having",
    sql: "SELECT state, country, count(*) AS n FROM airports GROUP BY state, country HAVING count(*) > 100 ORDER BY n DESC, state",
  },
  {
    name: "min/max/sum",
    sql: "SELECT min(temp_min), max(temp_max), sum(precipitation), sum(wind) FROM weather",
  },
  {
    name: "order by + limit + offset",
    sql: "SELECT iata, latitude FROM airports ORDER BY latitude DESC, iata LIMIT 5 OFFSET 3",
  },
  { name: "distinct", sql: "SELECT DISTINCT weather FROM weather ORDER BY weather" },
  {
    name: "count distinct",
    sql: "SELECT count(DISTINCT state), count(DISTINCT country) FROM airports",
  },
  // joins of two datasets
  {
    name: "join routes to airports",
    sql: "SELECT a.state, sum(r.count) AS flights FROM routes r JOIN airports a ON a.iata = r.origin GROUP BY a.state ORDER BY flights DESC, a.state LIMIT 8",
  },
  {
    name: "self-join through two airports",
    sql: "SELECT o.city, d.city, r.count FROM routes r JOIN airports o ON o.iata = r.origin JOIN airports d ON d.iata = r.destination WHERE r.count > 10000 ORDER BY r.count DESC, o.city, d.city",
  },
  {
    name: "left join with unmatched rows",
    sql: "SELECT count(*), count(a.iata) FROM routes r LEFT JOIN airports a ON a.iata = r.destination",
  },
  // CTEs and subqueries
  {
    name: "CTE",
    sql: "WITH wet AS (SELECT weather, precipitation FROM weather WHERE precipitation > 0) SELECT weather, count(*), round(avg(precipitation), 6) FROM wet GROUP BY weather ORDER BY weather",
  },
  {
    name: "subquery in WHERE",
    sql: "SELECT count(*) FROM airports WHERE iata IN (SELECT origin FROM routes WHERE count > 10000)",
  },
  {
    name: "scalar subquery",
    sql: "SELECT date, temp_max FROM weather WHERE temp_max = (SELECT max(temp_max) FROM weather) ORDER BY date",
  },
  // window functions
  {
    name: "row_number over partition",
    sql: "SELECT weather, date, temp_max FROM (SELECT weather, date, temp_max, row_number() OVER (PARTITION BY weather ORDER BY temp_max DESC, date) AS rn FROM weather) WHERE rn = 1 ORDER BY weather",
  },
  {
    name: "running sum",
    sql: "SELECT date, sum(precipitation) OVER (ORDER BY date ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS total FROM weather ORDER BY date LIMIT 10",
  },
  {
    name: "rank",
    sql: "SELECT origin, destination, count, rank() OVER (ORDER BY count DESC) AS r FROM routes ORDER BY r, origin, destination LIMIT 10",
  },
  // NULL handling
  {
    name: "NULL counts",
    sql: "SELECT count(*), count(amount), count(ok), count(ts), count(kind), count(note) FROM events",
  },
  {
    name: "IS NULL / COALESCE",
    sql: "SELECT id, coalesce(kind, '?') AS kind, coalesce(amount, 0) AS amount FROM events WHERE ok IS NULL OR ts IS NULL OR amount IS NULL ORDER BY id",
  },
  {
    name: "NULLs sort first",
    sql: "SELECT id, amount FROM events ORDER BY amount NULLS FIRST, id",
  },
  {
    name: "group by a column with NULLs",
    sql: "SELECT kind, count(*), sum(amount) FROM events GROUP BY kind ORDER BY kind NULLS FIRST",
  },
  { name: "booleans", sql: "SELECT ok, count(*) FROM events GROUP BY ok ORDER BY ok NULLS FIRST" },
  {
    name: "quoted strings survive",
    sql: "SELECT id, note FROM events WHERE note LIKE '%q%' OR note LIKE '%,%' ORDER BY id",
  },
  // date/time columns
  {
    name: "timestamp parts",
    sql: "SELECT id, CAST(strftime('%H', ts) AS INTEGER) AS hour, strftime('%Y-%m-%d', ts) AS day FROM events WHERE ts IS NOT NULL ORDER BY id",
    duckdb:
      "SELECT id, hour(ts) AS hour, strftime(ts, '%Y-%m-%d') AS day FROM events WHERE ts IS NOT NULL ORDER BY id",
  },
  {
    name: "group by month",
    sql: "SELECT substr(date, 1, 7) AS month, count(*), round(avg(temp_max), 6) FROM weather GROUP BY month ORDER BY month LIMIT 14",
    duckdb:
      "SELECT strftime(date, '%Y-%m') AS month, count(*), round(avg(temp_max), 6) FROM weather GROUP BY month ORDER BY month LIMIT 14",
  },
  {
    name: "timestamps as values",
    sql: "SELECT ts FROM events WHERE ts IS NOT NULL ORDER BY ts DESC, id LIMIT 3",
  },
  { name: "min/max timestamp", sql: "SELECT min(date), max(date) FROM weather" },
  // the columnar fast paths (docs/sql.md): each must answer, and answer as DuckDB does
  {
    name: "fast: group by month of a date (derived key)",
    sql: "SELECT substr(date, 1, 7) AS month, count(*) AS n, avg(temp_max), max(precipitation) FROM weather GROUP BY month ORDER BY month",
    duckdb:
      "SELECT strftime(date, '%Y-%m') AS month, count(*) AS n, avg(temp_max), max(precipitation) FROM weather GROUP BY month ORDER BY month",
    fast: true,
  },
  {
    name: "fast: strftime year with a filter, ordered by count",
    sql: "SELECT strftime('%Y', date) AS y, count(*) AS n, sum(precipitation) FROM weather WHERE weather <> 'sun' GROUP BY y ORDER BY n DESC, y",
    duckdb:
      "SELECT strftime(date, '%Y') AS y, count(*) AS n, sum(precipitation) FROM weather WHERE weather <> 'sun' GROUP BY y ORDER BY n DESC, y",
    fast: true,
  },
  {
    name: "fast: month of a timestamp with NULLs, two derived keys",
    sql: "SELECT strftime('%Y-%m', ts) AS m, upper(kind) AS k, count(*), sum(amount) FROM events GROUP BY m, k ORDER BY m NULLS FIRST, k NULLS FIRST",
    duckdb:
      "SELECT strftime(ts, '%Y-%m') AS m, upper(kind) AS k, count(*), sum(amount) FROM events GROUP BY m, k ORDER BY m NULLS FIRST, k NULLS FIRST",
    fast: true,
  },
  {
    name: "fast: count distinct over dictionary codes",
    sql: "SELECT count(DISTINCT weather), count(DISTINCT date), count(DISTINCT precipitation), count(DISTINCT substr(date, 1, 4)) FROM weather",
    duckdb:
      "SELECT count(DISTINCT weather), count(DISTINCT date), count(DISTINCT precipitation), count(DISTINCT strftime(date, '%Y')) FROM weather",
    fast: true,
  },
  {
    name: "fast: count distinct per group, with NULLs",
    sql: "SELECT ok, count(DISTINCT kind), count(DISTINCT note), count(*) FROM events GROUP BY ok ORDER BY ok NULLS FIRST",
    fast: true,
  },
  {
    name: "fast: fact joined to a dimension by hash lookup",
    sql: "SELECT a.state, count(*) AS n, sum(r.count) AS flights, avg(r.count) FROM routes r JOIN airports a ON a.iata = r.origin GROUP BY a.state ORDER BY n DESC, a.state LIMIT 10",
    fast: true,
  },
  {
    name: "fast: join with filters on both sides",
    sql: "SELECT a.country, count(*), max(r.count) FROM routes r JOIN airports a ON r.destination = a.iata WHERE r.count > 100 AND a.state <> 'CA' GROUP BY a.country ORDER BY a.country",
    fast: true,
  },
  {
    name: "fast: join, whole-table aggregates",
    sql: "SELECT count(*), min(a.city), max(r.count), count(DISTINCT a.state) FROM airports a JOIN routes r ON a.iata = r.origin",
    fast: true,
  },
  {
    name: "fast: join with no matching rows",
    sql: "SELECT a.state, count(*) FROM routes r JOIN airports a ON a.iata = r.origin WHERE a.state = 'ZZ' GROUP BY a.state",
    fast: true,
    empty: true,
  },
  {
    name: "fast: NULLs in aggregates and IS [NOT] NULL",
    sql: "SELECT count(*), count(amount), sum(amount), min(ts), max(note) FROM events WHERE kind IS NOT NULL AND ok IS NOT NULL",
    fast: true,
  },
  {
    name: "fast: group by a column with NULLs (aggregates of NULLs)",
    sql: "SELECT kind, count(*), count(amount), sum(amount), avg(amount), min(ts) FROM events GROUP BY kind ORDER BY kind NULLS FIRST",
    fast: true,
  },
  {
    name: "fast: empty selection with GROUP BY",
    sql: "SELECT weather, count(*) FROM weather WHERE temp_max > 100 GROUP BY weather",
    fast: true,
    empty: true,
  },
  {
    name: "fast: empty selection, whole-table aggregates",
    sql: "SELECT count(*), sum(temp_max), avg(temp_max), min(weather) FROM weather WHERE temp_max > 100",
    fast: true,
  },
  {
    name: "fast: top-N with NULLs last",
    sql: "SELECT id, amount, kind FROM events ORDER BY amount DESC NULLS LAST, id LIMIT 4",
    fast: true,
  },
  {
    name: "fast: top-N with offset",
    sql: "SELECT origin, destination, count FROM routes ORDER BY count DESC, origin, destination LIMIT 5 OFFSET 2",
    fast: true,
  },
  {
    name: "fast: top-N on a date column",
    sql: "SELECT date, temp_max, weather FROM weather WHERE weather = 'rain' ORDER BY temp_max DESC, date LIMIT 5",
    fast: true,
  },
];

function sameValue(a: unknown, b: unknown): boolean {
  if (a === null || b === null) return a === b;
  // DuckDB prints a UTC-adjusted Parquet timestamp as TIMESTAMPTZ ("… 00:00:00+00"); ours is the same instant in UTC
  if (typeof b === "string" && /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?\+00$/.test(b))
    b = b.slice(0, -3);
  const na =
    typeof a === "number"
      ? a
      : typeof a === "string" && /^-?[0-9.eE+-]+$/.test(a)
        ? Number(a)
        : NaN;
  const nb =
    typeof b === "number"
      ? b
      : typeof b === "string" && /^-?[0-9.eE+-]+$/.test(b)
        ? Number(b)
        : NaN;
  if (!Number.isNaN(na) && !Number.isNaN(nb))
    return Math.abs(na - nb) <= 1e-9 * Math.max(1, Math.abs(na), Math.abs(nb));
  return String(a) === String(b);
}

describe("SQL answers equal DuckDB's over the same Parquet", () => {
  let sys: System;
  let dir: string;
  let duck: DuckDBInstance;
  let con: DuckDBConnection;

  beforeAll(async () => {
    sys = await startSystem();
    dir = mkdtempSync(join(tmpdir(), "sql-crosscheck-"));
    duck = await DuckDBInstance.create(":memory:");
    con = await duck.connect();
    await con.run("SET TimeZone = 'UTC'");
    const sources: Record<string, string> = {
      weather: readFileSync(join(DATA, "seattle-weather.csv"), "utf8"),
      airports: readFileSync(join(DATA, "airports.csv"), "utf8"),
      routes: readFileSync(join(DATA, "flights-airport.csv"), "utf8"),
      events: EVENTS,
    };
    for (const [name, csv] of Object.entries(sources)) {
      const ing = await sys.json(`/v1/ingest?name=${name}`, {
        method: "POST",
        headers: { "content-type": "text/csv" },
        body: csv,
      });
      expect(ing.status, `${name}: ${JSON.stringify(ing.body)}`).toBe(200);
      const files: string[] = [];
      for (const [i, o] of (ing.body.objects as { key: string }[]).entries()) {
        const res = await sys.fetch(`/v1/storage/objects/${o.key}`);
        expect(res.status).toBe(200);
        const f = join(dir, `${name}-${i}.parquet`);
        writeFileSync(f, Buffer.from(await res.arrayBuffer()));
        files.push(`'${f}'`);
      }
      await con.run(`CREATE VIEW ${name} AS SELECT * FROM read_parquet([${files.join(", ")}])`);
    }
  });
  afterAll(async () => {
    con?.closeSync();
    duck?.closeSync();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await sys?.stop();
  });

  it("has at least 25 checks, at least 10 of them on the columnar fast paths", () => {
    expect(CHECKS.length).toBeGreaterThanOrEqual(25);
    expect(CHECKS.filter((c) => c.fast).length).toBeGreaterThanOrEqual(10);
  });

  it("the ingested columns have the types the checks rely on", async () => {
    const { body } = await sys.json("/v1/sql", {
      method: "POST",
      json: { sql: "SELECT * FROM events LIMIT 1" },
    });
    expect(body.columns.map((c: { type: string }) => c.type)).toEqual([
      "BIGINT",
      "VARCHAR",
      "DOUBLE",
      "BOOLEAN",
      "TIMESTAMP",
      "VARCHAR",
    ]);
    const w = await sys.json("/v1/sql", {
      method: "POST",
      json: { sql: "SELECT date FROM weather LIMIT 1" },
    });
    // ISO dates are a DATE column (YYYY-MM-DD) once the ingest infers them, a TIMESTAMP before: both work below
    expect(w.body.columns.length).toBe(1);
    expect(["TIMESTAMP", "DATE"]).toContain(w.body.columns[0].type);
  });

  for (const check of CHECKS) {
    it(check.name, async () => {
      const ours = await sys.json("/v1/sql", { method: "POST", json: { sql: check.sql } });
      expect(ours.status, JSON.stringify(ours.body)).toBe(200);
      if (check.fast) expect(ours.body.engine, check.sql).toBe("columnar");
      const theirs = (
        await con.runAndReadAll(check.duckdb ?? check.sql)
      ).getRowsJson() as unknown[][];
      const got = ours.body.rows as unknown[][];
      expect(
        got.length,
        `${check.sql}\nours ${JSON.stringify(got.slice(0, 5))}\nduckdb ${JSON.stringify(theirs.slice(0, 5))}`,
      ).toBe(theirs.length);
      if (!check.empty) expect(got.length).toBeGreaterThan(0);
      for (let r = 0; r < got.length; r++) {
        for (let c = 0; c < theirs[r]!.length; c++) {
          const a = got[r]![c];
          const b = theirs[r]![c];
          expect(
            sameValue(a, b),
            `row ${r} col ${c}: ours ${JSON.stringify(a)} vs duckdb ${JSON.stringify(b)}\n${check.sql}`,
          ).toBe(true);
        }
        expect(got[r]!.length).toBe(theirs[r]!.length);
      }
    });
  }
});
