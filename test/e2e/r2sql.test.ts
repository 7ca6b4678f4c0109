// R2 SQL for what outgrows the local engine, end to end (issue #13). R2 SQL has no local
// simulation, so a Node HTTP server on 127.0.0.1 speaks its documented API
// (POST /api/v1/accounts/<account>/r2-sql/query/<bucket>, bearer token, {"query"} →
// {"success","errors","messages","result":{"schema","rows","metrics"}}) and answers by running the
// received statement in DuckDB over a copy of the big dataset, recording every request. The system
// runs with [queryd].local_max_rows = 50: a 100-row dataset goes to "R2 SQL", a 10-row one stays local.
//
// The LH_QUERYD_* vars and the R2_SQL_TOKEN secret must reach the query Worker, not only the
// gateway (`--var` reaches only the first config of a multi-config `wrangler dev`, TOOLCHAIN.md):
// wrangler's CLOUDFLARE_INCLUDE_PROCESS_ENV=true gives every Worker that has no .dev.vars the
// process environment as its secrets, so they are set in this process's environment for the
// one start of `wrangler dev` (and given to the gateway as vars too).

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { readBody, type System, startSystem } from "./harness";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const WAREHOUSE = `${ACCOUNT}_lakehouse-lake`;
const TOKEN = "r2sql-test-token";

function csvRows(n: number): string {
  const lines = ["id,kind,amount,ok,ts"];
  for (let i = 1; i <= n; i++) {
    const ts = new Date(Date.UTC(2024, 0, 1, 0, 0, i)).toISOString().replace(".000Z", "Z");
    lines.push(`${i},${["a", "b", "c"][i % 3]},${i * 1.5},${i % 2 === 0},${ts}`);
  }
  return lines.join("\n") + "\n";
}

interface Recorded {
  method: string;
  url: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: any;
}

/** DuckDB type → the Arrow type name R2 SQL reports in `schema`. */
function arrowType(duck: string): string {
  const t = duck.toUpperCase();
  if (t === "BIGINT" || t === "HUGEINT") return "Int64";
  if (t === "INTEGER") return "Int32";
  if (t === "DOUBLE" || t === "FLOAT" || t.startsWith("DECIMAL")) return "Float64";
  if (t === "BOOLEAN") return "Boolean";
  if (t.startsWith("TIMESTAMP")) return 'Timestamp(Microsecond, Some("UTC"))';
  if (t === "VARCHAR") return "Utf8";
  return duck;
}

describe("R2 SQL for datasets over the local budget", () => {
  let sys: System;
  let server: Server;
  let duck: DuckDBInstance;
  let con: DuckDBConnection;
  const seen: Recorded[] = [];

  beforeAll(async () => {
    duck = await DuckDBInstance.create(":memory:");
    con = await duck.connect();
    await con.run("SET TimeZone = 'UTC'");
    // the Iceberg namespace "default" with the big dataset, as R2 Data Catalog would serve it
    await con.run(`CREATE SCHEMA "default"`);
    await con.run(
      `CREATE TABLE "default"."big_events" (id BIGINT, kind VARCHAR, amount DOUBLE, ok BOOLEAN, ts TIMESTAMP)`,
    );
    for (const line of csvRows(100).trim().split("\n").slice(1)) {
      const [id, kind, amount, ok, ts] = line.split(",");
      await con.run(
        `INSERT INTO "default"."big_events" VALUES (${id}, '${kind}', ${amount}, ${ok}, '${ts!.replace("T", " ").replace("Z", "")}')`,
      );
    }

    server = createServer(async (req, res) => {
      const text = await readBody(req);
      let body: any = text;
      try {
        body = JSON.parse(text);
      } catch {
        // recorded as text
      }
      seen.push({
        method: req.method ?? "",
        url: req.url ?? "",
        authorization: req.headers.authorization,
        contentType: req.headers["content-type"],
        body,
      });
      const reply = (status: number, json: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(json));
      };
      if (
        req.method !== "POST" ||
        !/^\/api\/v1\/accounts\/[^/]+\/r2-sql\/query\/[^/]+$/.test(req.url ?? "")
      ) {
        return reply(404, {
          success: false,
          errors: [{ code: 7003, message: "No route for that URI" }],
          messages: [],
          result: null,
        });
      }
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        return reply(403, {
          success: false,
          errors: [{ code: 10000, message: "Authentication error" }],
          messages: [],
          result: null,
        });
      }
      try {
        const reader = await con.runAndReadAll(String(body.query));
        const names = reader.columnNames();
        const types = reader.columnTypes().map((t) => arrowType(t.toString()));
        const rows = reader.getRowObjectsJS().map((r) =>
          Object.fromEntries(
            names.map((n, i) => {
              const v = r[n];
              if (typeof v === "bigint") return [n, Number(v)];
              if (v instanceof Date) return [n, v.toISOString()];
              if (v !== null && typeof v === "object")
                return [
                  n,
                  types[i]!.startsWith("Timestamp") ? `${String(v).replace(" ", "T")}Z` : String(v),
                ];
              return [n, v];
            }),
          ),
        );
        reply(200, {
          success: true,
          errors: [],
          messages: [],
          result: {
            request_id: `r2sql-${seen.length}`,
            schema: names.map((name, i) => ({ name, type: types[i] })),
            rows,
            metrics: { r2_requests_count: 1, files_scanned: 1, bytes_scanned: 4096 },
          },
        });
      } catch (err) {
        reply(400, {
          success: false,
          errors: [{ code: 40004, message: err instanceof Error ? err.message : String(err) }],
          messages: [],
          result: null,
        });
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const vars = {
      LH_QUERYD_R2SQL_URL: url,
      LH_QUERYD_R2SQL_WAREHOUSE: WAREHOUSE,
      LH_QUERYD_R2SQL_ACCOUNT_ID: ACCOUNT,
      LH_QUERYD_LOCAL_MAX_ROWS: "50",
      R2_SQL_TOKEN: TOKEN,
    };
    const saved = new Map<string, string | undefined>();
    for (const [k, v] of Object.entries({ ...vars, CLOUDFLARE_INCLUDE_PROCESS_ENV: "true" })) {
      saved.set(k, process.env[k]);
      process.env[k] = v;
    }
    try {
      sys = await startSystem({ vars });
    } finally {
      for (const [k, v] of saved) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    for (const [name, n] of [
      ["big_events", 100],
      ["small_events", 10],
    ] as const) {
      const ing = await sys.json(`/v1/ingest?name=${name}`, {
        method: "POST",
        headers: { "content-type": "text/csv" },
        body: csvRows(n),
      });
      expect(ing.status, `${name}: ${JSON.stringify(ing.body)}`).toBe(200);
      expect(ing.body.row_count).toBe(n);
    }
  });

  afterAll(async () => {
    await sys?.stop();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    con?.closeSync();
    duck?.closeSync();
  });

  beforeEach(() => {
    seen.length = 0;
  });

  const sql = (json: unknown, headers: Record<string, string> = {}) =>
    sys.json("/v1/sql", { method: "POST", json, headers });

  it("a query over the big dataset goes to R2 SQL: the documented URL, the bearer token, the qualified name, params inlined", async () => {
    const { status, body } = await sql({
      sql: "SELECT id, kind, amount, ok, ts FROM big_events WHERE id > ? AND kind <> ? ORDER BY id",
      params: [95, "it's"],
    });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.engine).toBe("r2sql");
    expect(body.columns).toEqual([
      { name: "id", type: "BIGINT" },
      { name: "kind", type: "VARCHAR" },
      { name: "amount", type: "DOUBLE" },
      { name: "ok", type: "BOOLEAN" },
      { name: "ts", type: "TIMESTAMP" },
    ]);
    expect(body.rows).toEqual([
      [96, "a", 144, true, "2024-01-01 00:01:36"],
      [97, "b", 145.5, false, "2024-01-01 00:01:37"],
      [98, "c", 147, true, "2024-01-01 00:01:38"],
      [99, "a", 148.5, false, "2024-01-01 00:01:39"],
      [100, "b", 150, true, "2024-01-01 00:01:40"],
    ]);
    expect(body.row_count).toBe(5);
    expect(body.truncated).toBe(false);
    expect(typeof body.elapsed_ms).toBe("number");

    expect(seen).toHaveLength(1);
    expect(seen[0]!.method).toBe("POST");
    expect(seen[0]!.url).toBe(`/api/v1/accounts/${ACCOUNT}/r2-sql/query/lakehouse-lake`);
    expect(seen[0]!.authorization).toBe(`Bearer ${TOKEN}`);
    expect(seen[0]!.contentType).toMatch(/application\/json/);
    expect(seen[0]!.body).toEqual({
      query: `SELECT id, kind, amount, ok, ts FROM "default"."big_events" AS "big_events" WHERE id > 95 AND kind <> 'it''s' ORDER BY id\nLIMIT 10001`,
    });
  });

  it("answers the same as the local engine over the same rows, and truncates at max_rows", async () => {
    const statement = {
      sql: "SELECT kind, count(*) AS n, sum(amount) AS total FROM big_events GROUP BY kind ORDER BY kind",
    };
    const remote = await sql(statement);
    const local = await sql({ ...statement, engine: "local" });
    expect(remote.status).toBe(200);
    expect(local.status).toBe(200);
    expect(remote.body.engine).toBe("r2sql");
    expect(["columnar", "sqlite"]).toContain(local.body.engine);
    expect(remote.body.rows).toEqual(local.body.rows);
    expect(remote.body.columns).toEqual(local.body.columns);
    expect(seen).toHaveLength(1);

    const capped = await sql({ sql: "SELECT id FROM big_events ORDER BY id", max_rows: 7 });
    expect(capped.body.engine).toBe("r2sql");
    expect(capped.body.row_count).toBe(7);
    expect(capped.body.truncated).toBe(true);
    expect(seen[1]!.body.query).toMatch(/LIMIT 8$/);
  });

  it("Accept: text/csv works for R2 SQL answers", async () => {
    const res = await sys.fetch("/v1/sql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/csv" },
      body: JSON.stringify({ sql: "SELECT id, ok, ts FROM big_events WHERE id <= 2 ORDER BY id" }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/csv/);
    expect(res.headers.get("x-row-count")).toBe("2");
    expect(await res.text()).toBe(
      "id,ok,ts\r\n1,false,2024-01-01 00:00:01\r\n2,true,2024-01-01 00:00:02\r\n",
    );
    expect(seen).toHaveLength(1);
  });

  it("a query over the small dataset stays local and R2 SQL sees nothing", async () => {
    const { status, body } = await sql({
      sql: "SELECT count(*) AS n, sum(amount) AS total FROM small_events",
    });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(["columnar", "sqlite"]).toContain(body.engine);
    expect(body.rows).toEqual([[10, 82.5]]);
    expect(seen).toHaveLength(0);
  });

  it("a statement R2 SQL rejects becomes our 400 error body with its message", async () => {
    const { status, body } = await sql({ sql: "SELECT no_such_column FROM big_events" });
    expect(status).toBe(400);
    expect(body.error.code).toBe("r2sql_rejected");
    expect(body.error.message).toMatch(/R2 SQL rejected the statement: 40004: .*no_such_column/);
    expect(seen).toHaveLength(1);
  });

  it("what R2 SQL cannot run is refused before sending, naming the construct", async () => {
    const { status, body } = await sql({
      sql: "SELECT id FROM big_events ORDER BY id LIMIT 5 OFFSET 10",
    });
    expect(status).toBe(400);
    expect(body.error.code).toBe("r2sql_unsupported");
    expect(body.error.message).toMatch(/OFFSET/);
    expect(seen).toHaveLength(0);
  });
});
