// Issue #21 through the gateway against `wrangler dev`, where every Worker shares one thread and a
// Durable Object's SQLite step cannot be interrupted: the runaway shapes that once hung the whole
// local runtime (a product through a materialized CTE, a LIMIT subquery, a correlated subquery,
// an equality join on a key with one value)
// are refused before they run, a trickling query ends at its timeout, and /v1/health answers
// meanwhile and after. An answer over [queryd].max_result_bytes is truncated (JSON and CSV), CSV
// writes integers past 2^53 exactly, and an unknown body field is a 400.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type System, startSystem } from "./harness";

describe("SQL bounded wherever the engine runs (wrangler dev)", () => {
  let sys: System;
  const sql = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    sys.json("/v1/sql", {
      method: "POST",
      json: body,
      headers,
      signal: AbortSignal.timeout(120_000),
    });
  /** /v1/health with a generous request timeout: the assertion is that it answers 200, not how fast. */
  const health = async () => {
    const res = await sys.fetch("/v1/health", { signal: AbortSignal.timeout(60_000) });
    await res.body?.cancel();
    return res.status;
  };

  beforeAll(async () => {
    sys = await startSystem({ vars: { AUTH_TOKEN: "sql-bounded-token" } });
    const csv =
      ["n,label", ...Array.from({ length: 50_000 }, (_, i) => `${i},row ${i % 97}`)].join("\n") +
      "\n";
    const res = await sys.json("/v1/ingest?name=t50k&mode=replace", {
      method: "POST",
      headers: { "content-type": "text/csv" },
      body: csv,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const count = await sql({ sql: "SELECT count(*) FROM t50k" });
    expect(count.body.rows).toEqual([[50_000]]);
    // one key value in every row: an equality self-join on it is a 4e8-row product
    const same = ["k,v", ...Array.from({ length: 20_000 }, (_, i) => `x,${i}`)].join("\n") + "\n";
    expect(
      (
        await sys.json("/v1/ingest?name=same&mode=replace", {
          method: "POST",
          headers: { "content-type": "text/csv" },
          body: same,
        })
      ).status,
    ).toBe(200);
  });
  afterAll(() => sys?.stop());

  it("runaway shapes get a 4xx and health answers (status 200) while they are sent and after", async () => {
    const runaway: [string, Record<string, unknown>, string][] = [
      [
        "materialized CTE product",
        { sql: "WITH x AS MATERIALIZED (SELECT * FROM t50k) SELECT count(*) FROM x a, x b, x c" },
        "query_too_large",
      ],
      [
        "CTE product",
        { sql: "WITH x AS (SELECT n FROM t50k) SELECT count(*) FROM x a, x b" },
        "query_too_large",
      ],
      [
        "LIMIT subquery product",
        {
          sql: "SELECT count(*) FROM t50k a, (SELECT * FROM t50k LIMIT 50000) b",
          timeout_ms: 3000,
        },
        "query_too_large",
      ],
      [
        "equality join on a key with one value",
        { sql: "SELECT count(*) FROM same a JOIN same b ON a.k = b.k" },
        "query_too_large",
      ],
      [
        "correlated subquery",
        {
          sql: "SELECT count(*) FROM t50k a WHERE (SELECT count(*) FROM t50k b WHERE b.n > a.n) > 3",
        },
        "query_too_large",
      ],
      [
        "trickling recursive CTE",
        {
          sql: "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 10000000) SELECT x FROM c WHERE x % 100000 = 0",
          timeout_ms: 300,
        },
        "query_timeout",
      ],
    ];
    const answers = runaway.map(([, body]) => sql(body));
    const during = await health();
    const results = await Promise.all(answers);
    for (const [i, [what, , code]] of runaway.entries()) {
      const r = results[i]!;
      expect(r.status, `${what}: ${JSON.stringify(r.body)}`).toBe(400);
      expect(r.body.error.code, what).toBe(code);
      if (code === "query_too_large") {
        expect(r.body.error.message, what).toMatch(/\[queryd\]\.max_join_rows/);
        expect(r.body.error.message, what).not.toMatch(/LIMIT in a subquery/);
      }
    }
    expect(during).toBe(200);
    expect(await health()).toBe(200);
    // the engine keeps answering
    const after = await sql({ sql: "SELECT count(*) FROM t50k a JOIN t50k b ON a.n = b.n" });
    expect(after.status, JSON.stringify(after.body)).toBe(200);
    expect(after.body.rows).toEqual([[50_000]]);
  });

  it("an answer over [queryd].max_result_bytes (16 MiB) is truncated, in JSON and in CSV", async () => {
    const wide =
      "SELECT n, substr(hex(zeroblob(50000)), 1, 100000) AS pad FROM t50k ORDER BY n LIMIT 1000";
    const json = await sql({ sql: wide });
    expect(json.status, JSON.stringify(json.body).slice(0, 300)).toBe(200);
    expect(json.body).toMatchObject({ truncated: true, truncated_by: "max_result_bytes" });
    expect(json.body.row_count).toBeGreaterThan(100);
    expect(json.body.row_count).toBeLessThan(1000);
    const csv = await sys.fetch("/v1/sql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/csv" },
      body: JSON.stringify({ sql: wide }),
    });
    expect(csv.status).toBe(200);
    expect(csv.headers.get("x-truncated-by")).toBe("max_result_bytes");
    expect((await csv.text()).length).toBeLessThanOrEqual(16 * 1024 * 1024);
    expect(await health()).toBe(200);
  });

  it("CSV writes 9007199254740993 exactly; an unknown body field is a 400 naming it", async () => {
    const csv = await sys.fetch("/v1/sql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/csv" },
      body: JSON.stringify({
        sql: "SELECT 9007199254740993 AS big, n FROM t50k WHERE n < 2 ORDER BY n",
      }),
    });
    expect(csv.status).toBe(200);
    expect(await csv.text()).toBe("big,n\r\n9007199254740993,0\r\n9007199254740993,1\r\n");
    const unknown = await sql({ sql: "SELECT count(*) FROM t50k", version: 3 });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toMatch(/unknown field body\.version/);
  });
});
