// Issue #12 for SQL, through the gateway against `wrangler dev`: datasets named like SQL
// words do not touch other queries; the engine's tables are unreachable under any spelling;
// a runaway recursive CTE or a huge cross join is refused before it runs, a trickling query
// ends at its timeout, and the whole system (health included) keeps answering.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type System, startSystem } from "./harness";

describe("SQL isolation through the gateway", () => {
  let sys: System;
  const sql = (text: string, extra: Record<string, unknown> = {}) =>
    sys.json("/v1/sql", { method: "POST", json: { sql: text, ...extra } });
  const ingest = (name: string, csv: string) =>
    sys.json(`/v1/ingest?name=${encodeURIComponent(name)}&mode=replace`, {
      method: "POST",
      headers: { "content-type": "text/csv" },
      body: csv,
    });
  // "Health answers" is the check, not how fast: a stalled runtime (the failure these tests guard
  // against) answered nothing for a minute or more, while a loaded CI machine can take seconds.
  // The 30 s abort tells the two apart without depending on an idle machine.
  const healthy = async () => {
    const res = await sys.fetch("/v1/health", { signal: AbortSignal.timeout(30_000) });
    await res.body?.cancel();
    return { status: res.status };
  };

  beforeAll(async () => {
    sys = await startSystem({ vars: { AUTH_TOKEN: "sql-isolation-token" } });
    const people = "id,name\n1,Alice\n2,Bob\n3,Carol\n";
    for (const [name, csv] of [
      ["people", people],
      ["select", "id,v\n1,a\n2,b\n"],
      ["count", "id\n7\n"],
    ] as const) {
      const res = await ingest(name, csv);
      expect(res.status, `${name}: ${JSON.stringify(res.body)}`).toBe(200);
    }
    // 8000 rows: a self cross join is 64M combinations, over the default [queryd].max_join_rows (50M)
    const grid = ["n", ...Array.from({ length: 8000 }, (_, i) => String(i))].join("\n") + "\n";
    expect((await ingest("grid", grid)).status).toBe(200);
  });
  afterAll(() => sys?.stop());

  it("datasets named select / count do not affect queries that do not read them, and read when quoted", async () => {
    const plain = await sql("SELECT count(*) AS n, 'select' AS s FROM people");
    expect(plain.status, JSON.stringify(plain.body)).toBe(200);
    expect(plain.body.rows).toEqual([[3, "select"]]);
    const quoted = await sql('SELECT s.v, c.id FROM "select" s, [count] c ORDER BY s.id');
    expect(quoted.status, JSON.stringify(quoted.body)).toBe(200);
    expect(quoted.body.rows).toEqual([
      ["a", 7],
      ["b", 7],
    ]);
  });

  it("the engine's tables are unreachable under any spelling", async () => {
    for (const text of [
      "SELECT * FROM 'sqlite_master'",
      'SELECT * FROM main."sqlite_schema"',
      "SELECT * FROM [_lh_tables]",
      "SELECT * FROM pragma_table_info('people')",
      "SELECT 1 WHERE 'x' IN '_lh_garbage'",
    ]) {
      const res = await sql(text);
      expect(res.status, `${text}: ${JSON.stringify(res.body)}`).toBe(400);
    }
  });

  it("refuses a recursive CTE without LIMIT and a huge cross join before running them; health stays fast", async () => {
    const endless = sql(
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    );
    const cross = sql("SELECT count(*) FROM grid a, grid b");
    const health = await healthy();
    const [e, x] = await Promise.all([endless, cross]);
    expect(e.status, JSON.stringify(e.body)).toBe(400);
    expect(e.body.error.code).toBe("query_unbounded");
    expect(x.status, JSON.stringify(x.body)).toBe(400);
    expect(x.body.error.code).toBe("query_too_large");
    expect(x.body.error.message).toMatch(/max_join_rows/);
    expect(health.status).toBe(200);
    // an equality join of the same tables is fine
    const equi = await sql("SELECT count(*) FROM grid a JOIN grid b ON a.n = b.n");
    expect(equi.status, JSON.stringify(equi.body)).toBe(200);
    expect(equi.body.rows).toEqual([[8000]]);
  });

  it("a trickling query ends at its timeout while others keep answering", async () => {
    const slow = sql(
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 10000000) SELECT x FROM c WHERE x % 100000 = 0",
      { timeout_ms: 300 },
    );
    const other = await sql("SELECT count(*) FROM people");
    expect(other.status).toBe(200);
    const s = await slow;
    expect(s.status, JSON.stringify(s.body)).toBe(400);
    expect(s.body.error.code).toBe("query_timeout");
    expect(s.body.error.message).toMatch(/300 ms/);
    expect((await healthy()).status).toBe(200);
  });
});
