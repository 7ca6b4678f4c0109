// SQL over the lake as a user drives it through the gateway: ingest a CSV, query it,
// append, replace, delete, bad statements, CSV output, and a kill-and-restart that must
// give the same answers.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type System, startSystem } from "./harness";

const PEOPLE =
  "id,name,age,member,joined\n1,Alice,34,true,2024-01-02T03:04:05Z\n2,Bob,,false,2024-02-03T10:00:00Z\n3,Carol,29,true,\n";

describe("SQL through the gateway", () => {
  let sys: System;
  const sql = (
    text: string,
    extra: Record<string, unknown> = {},
    headers: Record<string, string> = {},
  ) => sys.json("/v1/sql", { method: "POST", json: { sql: text, ...extra }, headers });
  const ingest = (name: string, csv: string, mode = "replace") =>
    sys.json(`/v1/ingest?name=${name}&mode=${mode}`, {
      method: "POST",
      headers: { "content-type": "text/csv" },
      body: csv,
    });

  beforeAll(async () => {
    sys = await startSystem({ vars: { AUTH_TOKEN: "sql-token" } });
  });
  afterAll(() => sys?.stop());

  it("ingest → query returns the rows (first row Alice), typed, with the answer shape of DESIGN §6", async () => {
    const ing = await ingest("people", PEOPLE);
    expect(ing.status, JSON.stringify(ing.body)).toBe(200);
    // The engine's cache listing is internal (the catalog's binding only): not reachable from outside.
    const cached = await sys.json("/v1/sql/datasets");
    expect(cached.status).toBe(404);
    const { status, body } = await sql("SELECT * FROM people ORDER BY id");
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.rows[0][1]).toBe("Alice");
    expect(body.columns).toEqual([
      { name: "id", type: "BIGINT" },
      { name: "name", type: "VARCHAR" },
      { name: "age", type: "BIGINT" },
      { name: "member", type: "BOOLEAN" },
      { name: "joined", type: "TIMESTAMP" },
    ]);
    expect(body.rows).toEqual([
      [1, "Alice", 34, true, "2024-01-02 03:04:05"],
      [2, "Bob", null, false, "2024-02-03 10:00:00"],
      [3, "Carol", 29, true, null],
    ]);
    expect(body.row_count).toBe(3);
    expect(body.truncated).toBe(false);
    expect(typeof body.elapsed_ms).toBe("number");
  });

  it("answers the trailing-slash path, params, max_rows and Accept: text/csv", async () => {
    const slash = await sys.json("/v1/sql/", {
      method: "POST",
      json: { sql: "SELECT name FROM people WHERE age > ? ORDER BY id", params: [30] },
    });
    expect(slash.status).toBe(200);
    expect(slash.body.rows).toEqual([["Alice"]]);
    const capped = await sql("SELECT id FROM people ORDER BY id", { max_rows: 1 });
    expect(capped.body).toMatchObject({ rows: [[1]], row_count: 1, truncated: true });
    const res = await sys.fetch("/v1/sql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/csv" },
      body: JSON.stringify({ sql: "SELECT id, name, age FROM people ORDER BY id" }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/csv/);
    expect(await res.text()).toBe("id,name,age\r\n1,Alice,34\r\n2,Bob,\r\n3,Carol,29\r\n");
  });

  it("append → the next query sees the new rows; replace → the old rows are gone", async () => {
    const app = await ingest(
      "people",
      "id,name,age,member,joined\n4,Dave,51,false,2024-03-01T00:00:00Z\n",
      "append",
    );
    expect(app.status, JSON.stringify(app.body)).toBe(200);
    const after = await sql("SELECT count(*) AS n, max(name) AS last FROM people");
    expect(after.body.rows).toEqual([[4, "Dave"]]);
    const rep = await ingest(
      "people",
      "id,name,age,member,joined\n10,Zoe,40,true,2024-05-05T05:05:05Z\n11,Yann,41,false,2024-06-06T06:06:06Z\n",
    );
    expect(rep.status).toBe(200);
    const replaced = await sql("SELECT id, name FROM people ORDER BY id");
    expect(replaced.body.rows).toEqual([
      [10, "Zoe"],
      [11, "Yann"],
    ]);
    const alice = await sql("SELECT count(*) FROM people WHERE name = 'Alice'");
    expect(alice.body.rows).toEqual([[0]]);
  });

  it("bad input → 400 with the engine's message, and the engine keeps serving", async () => {
    const cases: [string, RegExp][] = [
      ["DELETE FROM people", /only SELECT, WITH, VALUES or EXPLAIN/],
      ["INSERT INTO people (id) VALUES (99)", /only SELECT/],
      ["WITH x AS (SELECT 1) UPDATE people SET age = 1", /UPDATE is not allowed/],
      ["PRAGMA table_info(people)", /only SELECT/],
      ["ATTACH DATABASE '/tmp/x.db' AS x", /only SELECT/],
      ["SELECT 1; SELECT 2", /only one statement/],
      ["SELECT name FROM people WHERE", /incomplete input|syntax error/],
      ["SELECT * FROM peopel", /no such table: peopel/],
      ["SELECT shoe_size FROM people", /no such column: shoe_size/],
      ["SELECT * FROM _lh_tables", /reserved for the engine/],
      ["SELECT name FROM sqlite_master", /reserved for the engine/],
    ];
    for (const [text, message] of cases) {
      const { status, body } = await sql(text);
      expect(status, text).toBe(400);
      expect(body.error.message, text).toMatch(message);
    }
    const missing = await sys.json("/v1/sql", { method: "POST", json: { query: "SELECT 1" } });
    expect(missing.status).toBe(400);
    expect(missing.body.error.message).toMatch(/body\.sql/);
    const still = await sql("SELECT count(*) FROM people");
    expect(still.status).toBe(200);
    expect(still.body.rows).toEqual([[2]]);
  });

  it("survives a kill and restart with the same answers", async () => {
    await ingest("pets", "id,owner,kind\n1,10,cat\n2,11,dog\n3,10,fish\n");
    const q =
      "SELECT p.name, count(*) AS pets, group_concat(t.kind, '+') AS kinds FROM people p JOIN pets t ON t.owner = p.id GROUP BY p.name ORDER BY p.name";
    const before = await sql(q);
    expect(before.status, JSON.stringify(before.body)).toBe(200);
    expect(before.body.rows).toEqual([
      ["Yann", 1, "dog"],
      ["Zoe", 2, "cat+fish"],
    ]);
    await sys.restart();
    const after = await sql(q);
    expect(after.status).toBe(200);
    expect(after.body.rows).toEqual(before.body.rows);
    expect(after.body.columns).toEqual(before.body.columns);
    const people = await sql("SELECT * FROM people ORDER BY id");
    expect(people.body.rows).toEqual([
      [10, "Zoe", 40, true, "2024-05-05 05:05:05"],
      [11, "Yann", 41, false, "2024-06-06 06:06:06"],
    ]);
  });

  it("delete → 'no such table' 400; a re-created dataset is queryable again", async () => {
    const del = await sys.fetch("/v1/catalog/manifest/pets", { method: "DELETE" });
    expect(del.status).toBe(204);
    const gone = await sql("SELECT * FROM pets");
    expect(gone.status).toBe(400);
    expect(gone.body.error.message).toMatch(/no such table: pets/);
    await ingest("pets", "id,owner,kind\n7,11,parrot\n");
    const back = await sql("SELECT kind FROM pets");
    expect(back.body.rows).toEqual([["parrot"]]);
  });
});
