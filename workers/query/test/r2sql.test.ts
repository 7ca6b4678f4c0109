// The R2 SQL engine without Cloudflare: R2 SQL has no local simulation, so the client is driven
// against a fetcher that speaks the documented API (records each request, answers in the
// documented envelope). Covers the request shape, the answer and error mapping, parameter
// inlining, table qualification, the pre-send refusals, and the routing of POST /sql.
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import configText from "../../../lakehouse.toml";
import { loadConfig } from "../../../shared/config";
import { LakehouseError } from "../../../shared/errors";
import { checkReadOnly, resolveDatasets } from "../src/guard";
import app from "../src/index";
import {
  chooseEngine,
  type Fetch,
  overLocalBudget,
  queryR2Sql,
  R2SQL_DEFAULT_URL,
  r2sqlEndpoint,
  r2sqlMissing,
} from "../src/r2sql";
import { mapResult } from "../src/r2sql-result";
import { capRows, rewriteForR2Sql, sqlLiteral } from "../src/r2sql-statement";

const queryd = (vars: Record<string, string> = {}) => loadConfig(configText, vars).queryd;

interface Seen {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: any;
}

/** A fetcher speaking R2 SQL's API: records the request, answers with `answer(body)`. */
function fakeR2Sql(answer: (body: any) => { status?: number; json?: unknown; text?: string }): {
  fetcher: Fetch;
  seen: Seen[];
} {
  const seen: Seen[] = [];
  const fetcher: Fetch = async (url, init) => {
    const body = JSON.parse(String(init.body));
    seen.push({
      url,
      method: String(init.method),
      headers: Object.fromEntries(new Headers(init.headers).entries()),
      body,
    });
    const a = answer(body);
    return new Response(a.text ?? JSON.stringify(a.json), {
      status: a.status ?? 200,
      headers: { "content-type": "application/json" },
    });
  };
  return { fetcher, seen };
}

const OK = {
  success: true,
  errors: [],
  messages: [],
  result: {
    request_id: "req-1",
    schema: [
      { name: "id", type: "Int64" },
      { name: "name", type: "Utf8" },
      { name: "score", type: "Float64" },
      { name: "active", type: "Boolean" },
      { name: "joined", type: 'Timestamp(Microsecond, Some("UTC"))' },
    ],
    rows: [
      { id: 1, name: "Alice", score: 91.5, active: true, joined: "2024-01-02T03:04:05Z" },
      { id: 2, name: null, score: 77, active: false, joined: "2024-02-03T00:00:00.250000Z" },
      { id: 3, name: "C", score: null, active: null, joined: null },
    ],
    metrics: { r2_requests_count: 2, files_scanned: 1, bytes_scanned: 1234 },
  },
};

async function rejection(p: Promise<unknown>): Promise<LakehouseError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(LakehouseError);
    return err as LakehouseError;
  }
  throw new Error("expected a rejection");
}

describe("configuration and endpoint", () => {
  it("is configured with a warehouse, the token and an account id or a URL, and names what is missing", () => {
    expect(r2sqlMissing(queryd(), {})).toHaveLength(3);
    const missing = r2sqlMissing(queryd({ LH_QUERYD_R2SQL_WAREHOUSE: "acct_lake" }), {}).join("; ");
    expect(missing).toMatch(/R2_SQL_TOKEN/);
    expect(missing).toMatch(/r2sql_account_id/);
    expect(
      r2sqlMissing(queryd({ LH_QUERYD_R2SQL_WAREHOUSE: "w", LH_QUERYD_R2SQL_ACCOUNT_ID: "a" }), {
        R2_SQL_TOKEN: "t",
      }),
    ).toEqual([]);
    expect(
      r2sqlMissing(queryd({ LH_QUERYD_R2SQL_WAREHOUSE: "w", LH_QUERYD_R2SQL_URL: "http://x" }), {
        R2_SQL_TOKEN: "t",
      }),
    ).toEqual([]);
  });

  it("posts to the documented URL: /api/v1/accounts/<account>/r2-sql/query/<bucket>", () => {
    const account = "0123456789abcdef0123456789abcdef";
    // the warehouse as `wrangler r2 bucket catalog get` prints it: <account>_<bucket>
    expect(
      r2sqlEndpoint(
        queryd({
          LH_QUERYD_R2SQL_WAREHOUSE: `${account}_lakehouse-lake`,
          LH_QUERYD_R2SQL_ACCOUNT_ID: account,
        }),
      ),
    ).toBe(`${R2SQL_DEFAULT_URL}/api/v1/accounts/${account}/r2-sql/query/lakehouse-lake`);
    // a bare bucket name, and the account id taken from the warehouse's prefix
    expect(
      r2sqlEndpoint(
        queryd({
          LH_QUERYD_R2SQL_WAREHOUSE: "lakehouse-lake",
          LH_QUERYD_R2SQL_ACCOUNT_ID: account,
        }),
      ),
    ).toBe(
      `https://api.sql.cloudflarestorage.com/api/v1/accounts/${account}/r2-sql/query/lakehouse-lake`,
    );
    expect(r2sqlEndpoint(queryd({ LH_QUERYD_R2SQL_WAREHOUSE: `${account}_b` }))).toBe(
      `${R2SQL_DEFAULT_URL}/api/v1/accounts/${account}/r2-sql/query/b`,
    );
    // r2sql_url replaces the host
    expect(
      r2sqlEndpoint(
        queryd({
          LH_QUERYD_R2SQL_WAREHOUSE: "acct_b",
          LH_QUERYD_R2SQL_ACCOUNT_ID: "acct",
          LH_QUERYD_R2SQL_URL: "http://127.0.0.1:9/",
        }),
      ),
    ).toBe("http://127.0.0.1:9/api/v1/accounts/acct/r2-sql/query/b");
  });
});

describe("statement rewriting", () => {
  const datasets = [{ name: "people" }, { name: "Big Events" }];
  const rewrite = (
    text: string,
    params: (string | number | boolean | null)[] = [],
    namespace = "default",
  ) => {
    const checked = checkReadOnly(text);
    const names = new Map(
      [...resolveDatasets(checked.tables, datasets)].map(([w, d]) => [w, d.name]),
    );
    return rewriteForR2Sql(checked.sql, checked.tables, names, namespace, params);
  };

  it('qualifies every dataset reference as "<namespace>"."<name>", keeping the name as written as its alias', () => {
    expect(rewrite("SELECT people.id FROM people WHERE id > 1")).toBe(
      'SELECT people.id FROM "default"."people" AS "people" WHERE id > 1',
    );
    expect(rewrite('SELECT p.id FROM People p JOIN "Big Events" AS e ON e.id = p.id')).toBe(
      'SELECT p.id FROM "default"."people" p JOIN "default"."Big Events" AS e ON e.id = p.id',
    );
    expect(rewrite("WITH t AS (SELECT id FROM people) SELECT * FROM t", [], "my ns")).toBe(
      'WITH t AS (SELECT id FROM "my ns"."people" AS "people") SELECT * FROM t',
    );
    expect(() => rewrite("SELECT * FROM nobody")).toThrow(/no such table: nobody/);
  });

  it("inlines params as literals, numbered as SQLite binds them", () => {
    expect(
      rewrite("SELECT * FROM people WHERE name = ? AND score > ? AND active = ? AND joined IS ?", [
        "O'Brien; DROP",
        -2.5,
        true,
        null,
      ]),
    ).toBe(
      `SELECT * FROM "default"."people" AS "people" WHERE name = 'O''Brien; DROP' AND score > (-2.5) AND active = TRUE AND joined IS NULL`,
    );
    expect(
      rewrite("SELECT * FROM people WHERE id = ?2 OR id = ?1 OR name = :n OR label = :n OR x = ?", [
        1,
        2,
        "a",
        4,
      ]),
    ).toBe(
      `SELECT * FROM "default"."people" AS "people" WHERE id = 2 OR id = 1 OR name = 'a' OR label = 'a' OR x = 4`,
    );
    // a `?` inside a string or quoted name is not a parameter; `::` is a cast; `x-?` cannot become a comment
    expect(rewrite("SELECT '?', \"a?\", id::VARCHAR, id-? FROM people", [-1])).toBe(
      `SELECT '?', "a?", id::VARCHAR, id-(-1) FROM "default"."people" AS "people"`,
    );
  });

  it("refuses params it cannot inline safely, and a count that does not match the placeholders", () => {
    expect(() => rewrite("SELECT * FROM people WHERE name = ?", ["a\\' OR 1=1 --"])).toThrow(
      /backslash/,
    );
    expect(() => rewrite("SELECT * FROM people WHERE name = ?", [])).toThrow(
      /1 parameter but params has 0 values/,
    );
    expect(() => rewrite("SELECT * FROM people", [1])).toThrow(
      /0 parameters but params has 1 value/,
    );
    expect(sqlLiteral(1e21, 0)).toBe("1e+21");
    expect(sqlLiteral("", 0)).toBe("''");
  });

  it("refuses before sending what R2 SQL does not run, naming the construct", () => {
    const cases: [string, RegExp][] = [
      [
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 5) SELECT * FROM c",
        /WITH RECURSIVE/,
      ],
      ["SELECT * FROM people LIMIT 10 OFFSET 5", /OFFSET/],
      ["SELECT * FROM people LIMIT 5, 10", /LIMIT <offset>, <count>/],
      ["SELECT * FROM people, json_each('[1]')", /json_each\(\)/],
      ["VALUES (1)", /VALUES statement/],
      ["SELECT * FROM people WHERE name GLOB 'A*'", /GLOB/],
      ["SELECT sum(id) OVER w FROM people WINDOW w AS (ORDER BY id)", /named WINDOW/],
      ["EXPLAIN QUERY PLAN SELECT * FROM people", /EXPLAIN QUERY PLAN/],
    ];
    for (const [text, message] of cases) {
      let err: unknown;
      try {
        rewrite(text);
      } catch (e) {
        err = e;
      }
      expect(err, text).toBeInstanceOf(LakehouseError);
      expect((err as LakehouseError).code, text).toBe("r2sql_unsupported");
      expect((err as LakehouseError).status).toBe(400);
      expect((err as LakehouseError).message, text).toMatch(message);
    }
  });

  it("caps the rows R2 SQL sends at max_rows + 1", () => {
    expect(capRows("SELECT * FROM t", 100)).toBe("SELECT * FROM t\nLIMIT 101");
    expect(capRows("SELECT * FROM t LIMIT 5000", 100)).toBe("SELECT * FROM t LIMIT 101");
    expect(capRows("SELECT * FROM t LIMIT 7", 100)).toBe("SELECT * FROM t LIMIT 7");
    expect(capRows("WITH a AS (SELECT * FROM t LIMIT 3) SELECT * FROM a", 10)).toBe(
      "WITH a AS (SELECT * FROM t LIMIT 3) SELECT * FROM a\nLIMIT 11",
    );
    expect(capRows("EXPLAIN SELECT * FROM t", 10)).toBe("EXPLAIN SELECT * FROM t");
  });
});

describe("the client against a server speaking R2 SQL's API", () => {
  const target = {
    endpoint: "https://r2sql.test/api/v1/accounts/acct/r2-sql/query/lake",
    token: "secret-token",
  };

  it("POSTs {query} with the bearer token and maps schema + rows into our shape", async () => {
    const { fetcher, seen } = fakeR2Sql(() => ({ json: OK }));
    const answer = await queryR2Sql(target, 'SELECT * FROM "default"."people"', {
      maxRows: 10,
      timeoutMs: 5000,
      fetcher,
      requestId: "rid-1",
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.url).toBe(target.endpoint);
    expect(seen[0]!.method).toBe("POST");
    expect(seen[0]!.headers.authorization).toBe("Bearer secret-token");
    expect(seen[0]!.headers["content-type"]).toBe("application/json");
    expect(seen[0]!.body).toEqual({ query: 'SELECT * FROM "default"."people"' });
    expect(answer.columns).toEqual([
      { name: "id", type: "BIGINT" },
      { name: "name", type: "VARCHAR" },
      { name: "score", type: "DOUBLE" },
      { name: "active", type: "BOOLEAN" },
      { name: "joined", type: "TIMESTAMP" },
    ]);
    expect(answer.rows).toEqual([
      [1, "Alice", 91.5, true, "2024-01-02 03:04:05"],
      [2, null, 77, false, "2024-02-03 00:00:00.250"],
      [3, "C", null, null, null],
    ]);
    expect(answer.row_count).toBe(3);
    expect(answer.truncated).toBe(false);
    expect(answer.r2sql).toEqual({ request_id: "req-1", metrics: OK.result.metrics });
  });

  it("truncates at max_rows, and infers types when the schema has none", () => {
    const mapped = mapResult(
      {
        success: true,
        result: {
          rows: [
            { n: 1, s: "a" },
            { n: 2, s: "b" },
            { n: 3, s: "c" },
          ],
        },
      },
      2,
    );
    expect(mapped.columns).toEqual([
      { name: "n", type: "BIGINT" },
      { name: "s", type: "VARCHAR" },
    ]);
    expect(mapped.rows).toEqual([
      [1, "a"],
      [2, "b"],
    ]);
    expect(mapped.truncated).toBe(true);
    expect(mapped.row_count).toBe(2);
    // big integers as text stay exact; nested values become JSON text
    const big = mapResult(
      {
        result: {
          schema: [
            { name: "b", type: "Int64" },
            { name: "m", type: "Struct" },
          ],
          rows: [{ b: "9007199254740993", m: { a: 1 } }],
        },
      },
      5,
    );
    expect(big.rows).toEqual([["9007199254740993", '{"a":1}']]);
  });

  it("maps a statement R2 SQL rejects to 400 r2sql_rejected with its message", async () => {
    for (const [status, code] of [
      [400, 40003],
      [200, 40004],
    ] as const) {
      const { fetcher } = fakeR2Sql(() => ({
        status,
        json: {
          success: false,
          errors: [{ code, message: "unsupported feature: JOIN operations are not supported" }],
          messages: [],
          result: null,
        },
      }));
      const err = await rejection(
        queryR2Sql(target, "SELECT 1", { maxRows: 10, timeoutMs: 5000, fetcher }),
      );
      expect(err.status).toBe(400);
      expect(err.code).toBe("r2sql_rejected");
      expect(err.message).toMatch(
        /R2 SQL rejected the statement: 4000[34]: unsupported feature: JOIN operations are not supported/,
      );
    }
  });

  it("maps transport failures, 5xx, bad credentials and unreadable answers to 502 r2sql_failed naming R2 SQL", async () => {
    const cases: { answer: { status?: number; json?: unknown; text?: string }; message: RegExp }[] =
      [
        {
          answer: {
            status: 500,
            json: { success: false, errors: [{ code: 10001, message: "internal" }] },
          },
          message: /R2 SQL failed \(HTTP 500\): 10001: internal/,
        },
        {
          answer: { status: 503, text: "<html>down</html>" },
          message: /R2 SQL failed \(HTTP 503\)/,
        },
        {
          answer: {
            status: 403,
            json: { success: false, errors: [{ code: 10000, message: "Authentication error" }] },
          },
          message: /R2_SQL_TOKEN/,
        },
        {
          answer: {
            status: 200,
            json: { success: false, errors: [{ code: 80001, message: "edge connection failure" }] },
          },
          message: /80001/,
        },
        { answer: { status: 200, text: "not json" }, message: /not JSON/ },
      ];
    for (const { answer, message } of cases) {
      const { fetcher } = fakeR2Sql(() => answer);
      const err = await rejection(
        queryR2Sql(target, "SELECT 1", { maxRows: 10, timeoutMs: 5000, fetcher }),
      );
      expect(err.status, JSON.stringify(answer)).toBe(502);
      expect(err.code).toBe("r2sql_failed");
      expect(err.message).toMatch(message);
    }
    const unreachable: Fetch = async () => {
      throw new TypeError("connection refused");
    };
    const err = await rejection(
      queryR2Sql(target, "SELECT 1", { maxRows: 10, timeoutMs: 5000, fetcher: unreachable }),
    );
    expect(err.status).toBe(502);
    expect(err.message).toMatch(/R2 SQL could not be reached .*connection refused/);
  });

  it("answers 504 r2sql_timeout when R2 SQL takes longer than the time box, and aborts the call", async () => {
    let aborted = false;
    const hanging: Fetch = (_url, init) =>
      new Promise((_, reject) => {
        init.signal?.addEventListener("abort", () => {
          aborted = true;
          reject(new Error("aborted"));
        });
      });
    const started = Date.now();
    const err = await rejection(
      queryR2Sql(target, "SELECT 1", { maxRows: 10, timeoutMs: 150, fetcher: hanging }),
    );
    expect(err.status).toBe(504);
    expect(err.code).toBe("r2sql_timeout");
    expect(err.message).toMatch(/within 150 ms/);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(aborted).toBe(true);
  });
});

describe("routing", () => {
  const refs = (text: string) => checkReadOnly(text).tables;
  const R2 = {
    LH_QUERYD_R2SQL_WAREHOUSE: "acct_lake",
    LH_QUERYD_R2SQL_ACCOUNT_ID: "acct",
    LH_QUERYD_R2SQL_URL: "https://r2sql.test",
    LH_QUERYD_LOCAL_MAX_ROWS: "5",
  };
  const DATASETS = [
    { name: "routing_big", row_count: 8, bytes: 100 },
    { name: "routing_small", row_count: 3 },
    { name: "routing_wide", row_count: 3, bytes: 5_000_000_000 },
  ];

  it("auto: R2 SQL when a dataset read is over local_max_rows or local_max_bytes and R2 SQL is configured, else local", () => {
    const cfg = queryd(R2);
    const token = { R2_SQL_TOKEN: "tok" };
    expect(chooseEngine(cfg, token, undefined, refs("SELECT * FROM routing_big"), DATASETS)).toBe(
      "r2sql",
    );
    expect(
      chooseEngine(
        cfg,
        token,
        "auto",
        refs("SELECT * FROM routing_small s JOIN routing_big b ON s.id = b.id"),
        DATASETS,
      ),
    ).toBe("r2sql");
    expect(chooseEngine(cfg, token, undefined, refs("SELECT * FROM routing_wide"), DATASETS)).toBe(
      "r2sql",
    ); // bytes > the 256 MiB default
    expect(chooseEngine(cfg, token, undefined, refs("SELECT * FROM routing_small"), DATASETS)).toBe(
      "local",
    );
    expect(chooseEngine(cfg, token, undefined, refs("SELECT 1"), DATASETS)).toBe("local");
    expect(chooseEngine(cfg, token, undefined, refs("SELECT * FROM nobody"), DATASETS)).toBe(
      "local",
    ); // the local engine names it
    expect(chooseEngine(cfg, {}, undefined, refs("SELECT * FROM routing_big"), DATASETS)).toBe(
      "local",
    ); // not configured: no token
    // the request may pick; [queryd].engine fixes it otherwise
    expect(chooseEngine(cfg, token, "local", refs("SELECT * FROM routing_big"), DATASETS)).toBe(
      "local",
    );
    expect(chooseEngine(cfg, token, "sqlite", refs("SELECT * FROM routing_big"), DATASETS)).toBe(
      "local",
    );
    expect(chooseEngine(cfg, token, "r2sql", refs("SELECT * FROM routing_small"), DATASETS)).toBe(
      "r2sql",
    );
    expect(
      chooseEngine(
        queryd({ ...R2, LH_QUERYD_ENGINE: "local" }),
        token,
        undefined,
        refs("SELECT * FROM routing_big"),
        DATASETS,
      ),
    ).toBe("local");
    expect(
      chooseEngine(
        queryd({ ...R2, LH_QUERYD_ENGINE: "r2sql" }),
        {},
        undefined,
        refs("SELECT * FROM routing_small"),
        DATASETS,
      ),
    ).toBe("r2sql");
  });

  it("over the byte budget counts too (a missing bytes counts as 0)", () => {
    const both = refs("SELECT * FROM a JOIN b ON a.id = b.id");
    const cfg = { local_max_rows: 100, local_max_bytes: 1000 };
    expect(
      overLocalBudget(
        both,
        [
          { name: "a", row_count: 10 },
          { name: "b", row_count: 10 },
        ],
        cfg,
      ),
    ).toEqual([]);
    expect(
      overLocalBudget(
        both,
        [
          { name: "a", row_count: 10, bytes: 5000 },
          { name: "b", row_count: 10 },
        ],
        cfg,
      )[0],
    ).toMatch(/a: 5000 bytes > \[queryd\].local_max_bytes = 1000/);
    expect(
      overLocalBudget(
        both,
        [
          { name: "a", row_count: 101 },
          { name: "b", row_count: 1 },
        ],
        cfg,
      )[0],
    ).toMatch(/local_max_rows/);
  });
});

describe("POST /sql on R2 SQL", () => {
  // The catalog's list is faked (row counts decide the engine); the R2 SQL API is a fetch override.
  const catalog = {
    fetch: async (input: RequestInfo | URL) => {
      const url = String(input instanceof Request ? input.url : input);
      if (url.endsWith("/catalog/list")) {
        return Response.json({
          datasets: [
            {
              dataset_id: "1",
              name: "routing_big",
              schema_fingerprint: "x",
              row_count: 8,
              version: 1,
              updated_at: "2026-01-01T00:00:00Z",
            },
            {
              dataset_id: "2",
              name: "routing_small",
              schema_fingerprint: "y",
              row_count: 3,
              bytes: 10,
              version: 1,
              updated_at: "2026-01-01T00:00:00Z",
            },
          ],
        });
      }
      return Response.json({ error: { code: "not_found", message: url } }, { status: 404 });
    },
  };
  const R2 = {
    LH_QUERYD_R2SQL_WAREHOUSE: "acct_lake",
    LH_QUERYD_R2SQL_ACCOUNT_ID: "acct",
    LH_QUERYD_R2SQL_URL: "https://r2sql.test",
    LH_QUERYD_LOCAL_MAX_ROWS: "5",
    R2_SQL_TOKEN: "tok",
  };
  const realFetch = globalThis.fetch;
  const seen: Seen[] = [];
  let answer: () => Response = () =>
    Response.json({ success: true, errors: [], messages: [], result: { schema: [], rows: [] } });
  beforeEach(() => {
    seen.length = 0;
    globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = String(input instanceof Request ? input.url : input);
      seen.push({
        url,
        method: String(init?.method),
        headers: Object.fromEntries(new Headers(init?.headers).entries()),
        body: JSON.parse(String(init?.body)),
      });
      return answer();
    }) as typeof fetch;
  });
  afterEach(() => {
    globalThis.fetch = realFetch;
  });

  async function call(body: unknown, vars: Record<string, unknown>, accept = "application/json") {
    const res = await app.fetch(
      new Request("http://query/sql", {
        method: "POST",
        headers: { "content-type": "application/json", accept },
        body: JSON.stringify(body),
      }),
      { ...env, CATALOG: catalog, ...vars },
      { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext,
    );
    const text = await res.text();
    let json: any = text;
    try {
      json = JSON.parse(text);
    } catch {
      // CSV
    }
    return { status: res.status, body: json, headers: res.headers };
  }

  it("sends the big dataset's statement (qualified, params inlined, capped) and answers in our shape, JSON or CSV", async () => {
    answer = () =>
      Response.json({
        success: true,
        errors: [],
        messages: [],
        result: {
          request_id: "r-9",
          schema: [
            { name: "id", type: "Int64" },
            { name: "label", type: "Utf8" },
          ],
          rows: [
            { id: 7, label: "row 7" },
            { id: 8, label: "row 8" },
          ],
          metrics: { bytes_scanned: 10 },
        },
      });
    const big = await call(
      {
        sql: "SELECT id, label FROM routing_big WHERE id > ? ORDER BY id",
        params: [6],
        max_rows: 100,
      },
      R2,
    );
    expect(big.status, JSON.stringify(big.body)).toBe(200);
    expect(big.body).toMatchObject({
      engine: "r2sql",
      columns: [
        { name: "id", type: "BIGINT" },
        { name: "label", type: "VARCHAR" },
      ],
      rows: [
        [7, "row 7"],
        [8, "row 8"],
      ],
      row_count: 2,
      truncated: false,
      r2sql: { request_id: "r-9", metrics: { bytes_scanned: 10 } },
    });
    expect(typeof big.body.elapsed_ms).toBe("number");
    expect(seen).toHaveLength(1);
    expect(seen[0]!.url).toBe("https://r2sql.test/api/v1/accounts/acct/r2-sql/query/lake");
    expect(seen[0]!.method).toBe("POST");
    expect(seen[0]!.headers.authorization).toBe("Bearer tok");
    expect(seen[0]!.body).toEqual({
      query:
        'SELECT id, label FROM "default"."routing_big" AS "routing_big" WHERE id > 6 ORDER BY id\nLIMIT 101',
    });

    const csv = await call({ sql: "SELECT id, label FROM routing_big" }, R2, "text/csv");
    expect(csv.status).toBe(200);
    expect(csv.headers.get("content-type")).toMatch(/text\/csv/);
    expect(csv.headers.get("x-row-count")).toBe("2");
    expect(csv.body).toBe("id,label\r\n7,row 7\r\n8,row 8\r\n");
  });

  it("answers R2 SQL's refusal as 400 r2sql_rejected, and refuses what it cannot run before sending", async () => {
    answer = () =>
      Response.json(
        {
          success: false,
          errors: [{ code: 40004, message: "unknown column: nope" }],
          messages: [],
          result: null,
        },
        { status: 400 },
      );
    const rejected = await call({ sql: "SELECT nope FROM routing_big" }, R2);
    expect(rejected.status).toBe(400);
    expect(rejected.body.error).toEqual({
      code: "r2sql_rejected",
      message: "sql: R2 SQL rejected the statement: 40004: unknown column: nope",
    });
    expect(seen).toHaveLength(1);
    const refused = await call({ sql: "SELECT id FROM routing_big LIMIT 1 OFFSET 2" }, R2);
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe("r2sql_unsupported");
    expect(seen).toHaveLength(1);
  });

  it("engine r2sql without configuration answers 503 naming the keys and the secret", async () => {
    const res = await call({ sql: "SELECT id FROM routing_small", engine: "r2sql" }, {});
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe("r2sql_not_configured");
    expect(res.body.error.message).toMatch(/r2sql_warehouse.*R2_SQL_TOKEN.*r2sql_account_id/);
    const viaConfig = await call(
      { sql: "SELECT id FROM routing_small" },
      { LH_QUERYD_ENGINE: "r2sql" },
    );
    expect(viaConfig.status).toBe(503);
    expect(seen).toHaveLength(0);
  });
});
