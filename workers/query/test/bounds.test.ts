// Issue #21, "bounded, wherever the engine runs": an answer is bounded in bytes while its rows
// are produced ([queryd].max_result_bytes, truncated or a 400 naming the key, never a 5xx);
// products through CTEs and subqueries are estimated like table scans and refused past
// [queryd].max_join_rows; CSV writes integers past 2^53 exactly; unknown /sql fields are a 400.
import { env, exports } from "cloudflare:workers";
import { parquetWriteBuffer } from "hyparquet-writer";
import { describe, expect, it } from "vitest";
import { schemaFingerprint } from "../../../shared/dataset";
import type { SchemaField } from "../../../shared/types";
import app from "../src/index";

const SCHEMA: SchemaField[] = [
  { name: "id", type: "int64", nullable: false },
  { name: "label", type: "string", nullable: true },
];

async function dataset(name: string, n: number, label = (i: number) => `l${i}`) {
  const ids = Array.from({ length: n }, (_, i) => i + 1);
  const buf = parquetWriteBuffer({
    columnData: [
      { name: "id", data: ids.map((i) => BigInt(i)), type: "INT64", nullable: false },
      { name: "label", data: ids.map(label), type: "STRING" },
    ],
  });
  const key = `datasets/${name}/v1/part-0.parquet`;
  await env.LAKE.put(key, buf);
  const res = await env.CATALOG.fetch("http://catalog/catalog/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      name,
      schema: SCHEMA,
      schema_fingerprint: await schemaFingerprint(SCHEMA),
      objects: [{ key, size: buf.byteLength, row_count: n }],
      mode: "replace",
    }),
  });
  expect(res.status).toBe(200);
}

/** POST /sql through the Worker; `vars` override config keys (LH_QUERYD_*) for this request. */
async function sql(body: unknown, opts: { vars?: Record<string, string>; csv?: boolean } = {}) {
  const init = {
    method: "POST",
    headers: { "content-type": "application/json", ...(opts.csv ? { accept: "text/csv" } : {}) },
    body: JSON.stringify(body),
  };
  const res = opts.vars
    ? await app.fetch(new Request("http://query/sql", init), { ...env, ...opts.vars }, {
        waitUntil() {},
        passThroughOnException() {},
        props: {},
      } as unknown as ExecutionContext)
    : await exports.default.fetch("http://query/sql", init);
  const text = await res.text();
  let json: any = text;
  try {
    json = JSON.parse(text);
  } catch {
    // CSV
  }
  return { status: res.status, body: json, text, headers: res.headers };
}

// 100 KB of text per row, made by SQLite itself (no dataset needed)
const WIDE = (rows: number) =>
  `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT ${rows}) SELECT x, substr(hex(zeroblob(50000)), 1, 100000) AS pad FROM c`;

describe("[queryd].max_result_bytes bounds an answer while its rows are produced", () => {
  it("1,000 rows of 100 KB (100 MB whole, over the 32 MiB RPC limit) answer 200 truncated by bytes, in JSON and in CSV", async () => {
    const json = await sql({ sql: WIDE(1000) });
    expect(json.status, json.text.slice(0, 300)).toBe(200);
    expect(json.body.truncated).toBe(true);
    expect(json.body.truncated_by).toBe("max_result_bytes");
    expect(json.body.row_count).toBeGreaterThan(100);
    expect(json.body.row_count).toBeLessThan(1000);
    expect(json.text.length).toBeLessThanOrEqual(16 * 1024 * 1024);
    expect(json.body.rows.at(-1)[0]).toBe(json.body.row_count); // whole rows, in order

    const csv = await sql({ sql: WIDE(1000) }, { csv: true });
    expect(csv.status).toBe(200);
    expect(csv.headers.get("x-truncated")).toBe("true");
    expect(csv.headers.get("x-truncated-by")).toBe("max_result_bytes");
    const lines = csv.text.split("\r\n").filter((l) => l !== "");
    expect(lines.length - 1).toBe(Number(csv.headers.get("x-row-count")));
    expect(csv.text.length).toBeLessThanOrEqual(16 * 1024 * 1024);
  });

  it("a smaller key truncates sooner; a first row alone over it is a 400 naming the key; max_rows still says max_rows", async () => {
    const vars = { LH_QUERYD_MAX_RESULT_BYTES: String(1024 * 1024) };
    const small = await sql({ sql: WIDE(50) }, { vars });
    expect(small.status).toBe(200);
    expect(small.body).toMatchObject({ truncated: true, truncated_by: "max_result_bytes" });
    expect(small.body.row_count).toBe(10); // 10 rows of ≈ 100,010 bytes and the envelope fit 1 MiB, 11 do not
    expect(small.text.length).toBeLessThanOrEqual(1024 * 1024);

    const tiny = await sql({ sql: WIDE(3) }, { vars: { LH_QUERYD_MAX_RESULT_BYTES: "50000" } });
    expect(tiny.status).toBe(400);
    expect(tiny.body.error.code).toBe("result_too_large");
    expect(tiny.body.error.message).toMatch(/\[queryd\]\.max_result_bytes = 50000/);

    const rows = await sql({
      sql: "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 100) SELECT x FROM c",
      max_rows: 7,
    });
    expect(rows.body).toMatchObject({ row_count: 7, truncated: true, truncated_by: "max_rows" });
    const whole = await sql({ sql: "SELECT 1 AS one" });
    expect(whole.body.truncated).toBe(false);
    expect(whole.body.truncated_by).toBeUndefined();
  });
});

describe("products through CTEs and subqueries are estimated like table scans", () => {
  const vars = { LH_QUERYD_MAX_JOIN_ROWS: "1000" };
  it("refuses them past [queryd].max_join_rows, and runs what fits", async () => {
    await dataset("t100", 100);
    const refused = [
      "WITH x AS MATERIALIZED (SELECT * FROM t100) SELECT count(*) FROM x a, x b, x c",
      "WITH x AS (SELECT * FROM t100) SELECT count(*) FROM x a, x b",
      "SELECT count(*) FROM t100 a, (SELECT * FROM t100 LIMIT 50) b",
      "SELECT count(*) FROM (SELECT id FROM t100 GROUP BY id) a, (SELECT id FROM t100 GROUP BY id) b",
      "WITH u AS (SELECT id FROM t100 UNION ALL SELECT id FROM t100) SELECT count(*) FROM u a, u b",
      "SELECT count(*) FROM t100 a WHERE (SELECT count(*) FROM t100 b WHERE b.id > a.id) > 3",
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 100) SELECT count(*) FROM c a, c b",
    ];
    for (const text of refused) {
      const res = await sql({ sql: text }, { vars });
      expect(res.status, `${text}: ${res.text}`).toBe(400);
      expect(res.body.error.code, text).toBe("query_too_large");
      expect(res.body.error.message, text).toMatch(/\[queryd\]\.max_join_rows = 1000/);
      // the refusal no longer suggests a form that is itself refused
      expect(res.body.error.message, text).not.toMatch(/LIMIT in a subquery/);
    }
    const allowed: [string, unknown[][]][] = [
      ["SELECT count(*) FROM t100 a, (SELECT * FROM t100 LIMIT 5) b", [[500]]],
      [
        "WITH s AS (SELECT count(*) AS n FROM t100) SELECT count(*), max(s.n) FROM t100, s",
        [[100, 100]],
      ],
      ["SELECT count(*) FROM t100 a, (SELECT max(id, 3) AS m FROM t100 LIMIT 2) b", [[200]]],
      [
        "WITH x AS MATERIALIZED (SELECT * FROM t100) SELECT count(*) FROM x a JOIN x b ON a.id = b.id",
        [[100]],
      ],
      ["SELECT count(*) FROM t100 a, (VALUES (1), (2)) v", [[200]]],
    ];
    for (const [text, rows] of allowed) {
      const res = await sql({ sql: text }, { vars });
      expect(res.status, `${text}: ${res.text}`).toBe(200);
      expect(res.body.rows, text).toEqual(rows);
    }
  });

  it("an equality join on a key with many duplicates counts its rows per key (a join on one value is a product)", async () => {
    await dataset("dup", 200, (i) => `k${i % 2}`); // 2 distinct labels: 100 rows per key
    const refused = await sql(
      { sql: "SELECT count(*) FROM dup a JOIN dup b ON a.label = b.label", engine: "sqlite" },
      { vars },
    );
    expect(refused.status, refused.text).toBe(400);
    expect(refused.body.error.code).toBe("query_too_large");
    expect(refused.body.error.message).toMatch(/dup \(≈ 100 rows per key label\)/);
    // on a unique key the same join is not multiplied
    const unique = await sql(
      { sql: "SELECT count(*) FROM dup a JOIN dup b ON a.id = b.id", engine: "sqlite" },
      { vars },
    );
    expect(unique.status, unique.text).toBe(200);
    expect(unique.body.rows).toEqual([[200]]);
    const fine = await sql({
      sql: "SELECT count(*) FROM dup a JOIN dup b ON a.label = b.label",
      engine: "sqlite",
    });
    expect(fine.body.rows).toEqual([[20000]]);
  });
});

describe("exact integers and strict bodies", () => {
  it("CSV writes integers past 2^53 exactly; JSON keeps numbers (the nearest double)", async () => {
    const text =
      "SELECT 9007199254740993 AS big, -9223372036854775808 AS least, 42 AS small, 1.5 AS real, 'x' AS s UNION ALL SELECT 1, 2, 3, 4.25, NULL";
    const csv = await sql({ sql: text }, { csv: true });
    expect(csv.status).toBe(200);
    expect(csv.text).toBe(
      "big,least,small,real,s\r\n9007199254740993,-9223372036854775808,42,1.5,x\r\n1,2,3,4.25,\r\n",
    );
    const json = await sql({ sql: text });
    expect(json.body.rows[0]).toEqual([9007199254740992, -9223372036854775808, 42, 1.5, "x"]);
    expect(json.body.columns.map((c: { type: string }) => c.type)).toEqual([
      "BIGINT",
      "BIGINT",
      "BIGINT",
      "DOUBLE",
      "VARCHAR",
    ]);
  });

  it("an unknown field in the body is a 400 naming it (no silent time travel)", async () => {
    const res = await sql({ sql: "SELECT 1", version: 3 });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("bad_request");
    expect(res.body.error.message).toMatch(/unknown field body\.version/);
    const slash = await exports.default.fetch("http://query/sql/", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ sql: "SELECT 1", as_of: "yesterday" }),
    });
    expect(slash.status).toBe(400);
    expect(((await slash.json()) as any).error.message).toMatch(/unknown field body\.as_of/);
  });
});
