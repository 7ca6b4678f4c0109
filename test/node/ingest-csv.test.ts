// The ingest converter (workers/ingest/src/ingest.ts, the code the ingest Worker runs) in Node,
// checked against DuckDB: every vega-datasets CSV converts, DuckDB reads our Parquet with the
// documented types (docs/storage-layout.md "Type inference") and exactly the rows DuckDB itself
// reads from the CSV under those types; and the quirks: BOM, CRLF and mixed line endings, quoted
// newlines and quotes, very wide rows, invalid UTF-8 (a 400 naming the line), row groups bounded
// by bytes, null strings, big int64 and far timestamps.

import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { parquetMetadata } from "hyparquet";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ColumnType } from "../../shared/types";
import { convertFile } from "./convert-node";

const DUCK_TYPE: Record<ColumnType, string> = {
  int64: "BIGINT",
  float64: "DOUBLE",
  bool: "BOOLEAN",
  date: "DATE",
  timestamp: "TIMESTAMP WITH TIME ZONE",
  string: "VARCHAR",
};
const VEGA = resolve("node_modules/vega-datasets/data");

let dir: string;
let db: DuckDBInstance;
let con: DuckDBConnection;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "lakehouse-ingest-csv-"));
  db = await DuckDBInstance.create(":memory:");
  con = await db.connect();
  await con.run("SET TimeZone = 'UTC'");
});
afterAll(async () => {
  con?.closeSync();
  db?.closeSync();
  await rm(dir, { recursive: true, force: true });
});

const q = (s: string) => `'${s.replace(/'/g, "''")}'`;

async function rows(sql: string): Promise<unknown[][]> {
  return (await con.runAndReadAll(sql)).getRows() as unknown[][];
}

/** Converts `csvPath`, then checks types and rows against DuckDB's read of the CSV under our types. */
async function crossCheck(
  csvPath: string,
  name: string,
  nullStrings: string[] = [""],
  againstCsv = true,
) {
  const { parquet, outcome } = await convertFile(csvPath, { nullStrings });
  const pq = join(dir, `${name}.parquet`);
  await writeFile(pq, parquet);
  const described = await rows(`DESCRIBE SELECT * FROM read_parquet(${q(pq)})`);
  expect(
    described.map((r) => `${r[0]}:${r[1]}`),
    name,
  ).toEqual(outcome.schema.map((f) => `${f.name}:${DUCK_TYPE[f.type]}`));
  if (!againstCsv) return { outcome, parquet };
  const columns = `{${outcome.schema.map((f) => `${q(f.name)}: ${q(DUCK_TYPE[f.type])}`).join(", ")}}`;
  const nulls = `[${nullStrings.map(q).join(", ")}]`;
  const csv = `read_csv(${q(csvPath)}, header = true, columns = ${columns}, nullstr = ${nulls}, auto_detect = false, quote = '"', escape = '"', delim = ',')`;
  const ours = `read_parquet(${q(pq)})`;
  const [onlyOurs, onlyCsv, count] = (
    await rows(
      `SELECT (SELECT count(*) FROM (FROM ${ours} EXCEPT ALL FROM ${csv})), (SELECT count(*) FROM (FROM ${csv} EXCEPT ALL FROM ${ours})), (SELECT count(*) FROM ${ours})`,
    )
  )[0] as bigint[];
  expect({ name, onlyOurs, onlyCsv }).toEqual({ name, onlyOurs: 0n, onlyCsv: 0n });
  expect(Number(count)).toBe(outcome.rows);
  return { outcome, parquet };
}

describe("every vega-datasets CSV", () => {
  it("converts, and DuckDB reads our Parquet with the documented types and the same rows", async () => {
    const files = (await readdir(VEGA)).filter((f) => f.endsWith(".csv")).sort();
    expect(files.length).toBeGreaterThan(20);
    const types: string[] = [];
    for (const f of files) {
      const { outcome } = await crossCheck(join(VEGA, f), f.replace(/\W/g, "_"));
      types.push(`${f}: ${outcome.schema.map((c) => c.type).join(",")}`);
    }
    // A few types the rules decide (docs/storage-layout.md): zip codes keep their leading zeros.
    const zip = types.find((t) => t.startsWith("zipcodes.csv"))!;
    expect(zip).toMatch(/^zipcodes\.csv: string,/);
  }, 300_000);
});

async function csvFile(name: string, text: string | Uint8Array): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, text);
  return p;
}

describe("type inference (as DuckDB's sniffer on the common cases)", () => {
  it("dates, timestamps with and without a zone, zip codes, boolean spellings, null strings", async () => {
    const p = await csvFile(
      "types.csv",
      "d,ts,tsz,zip,b1,b2,b3,n,i,f,na\n" +
        "2024-01-31,2024-01-31 10:20:30,2024-01-31T10:20:30+02:00,01234,true,t,yes,1,-7,1.5,NA\n" +
        "1999-12-31,2024-02-29T00:00:00.123456,2024-01-31 10:20:30Z,12345,FALSE,F,No,0,9007199254740993,-2e-3,4\n" +
        ",,,,,,,,,,\n",
    );
    const { outcome } = await crossCheck(p, "types");
    expect(outcome.schema.map((f) => `${f.name}:${f.type}`)).toEqual([
      "d:date",
      "ts:timestamp",
      "tsz:timestamp",
      "zip:string",
      "b1:bool",
      "b2:bool",
      "b3:bool",
      "n:int64",
      "i:int64",
      "f:float64",
      "na:string",
    ]);
    // With NA configured as null, the column is an integer column.
    const { outcome: withNa } = await crossCheck(p, "types_na", ["", "NA"]);
    expect(withNa.schema.at(-1)).toEqual({ name: "na", type: "int64", nullable: true });
    const v = await rows(
      `SELECT d::VARCHAR, ts::VARCHAR, tsz::VARCHAR, i FROM read_parquet(${q(join(dir, "types.parquet"))}) ORDER BY d NULLS LAST`,
    );
    expect(v[0]).toEqual([
      "1999-12-31",
      "2024-02-29 00:00:00.123456+00",
      "2024-01-31 10:20:30+00",
      9007199254740993n,
    ]);
    expect(v[1]).toEqual(["2024-01-31", "2024-01-31 10:20:30+00", "2024-01-31 08:20:30+00", -7n]);
  });

  it("null strings without the empty field: empty text is a value (an empty string), NA is null", async () => {
    const p = await csvFile(
      "nulls.csv",
      "s,n,t\nx,NA,2024-01-01 00:00:00\n,2,\nNA,3,2024-01-01 00:00:00\n",
    );
    const { outcome } = await crossCheck(p, "nulls", ["NA"]);
    expect(outcome.schema).toEqual([
      { name: "s", type: "string", nullable: true },
      { name: "n", type: "int64", nullable: true },
      { name: "t", type: "string", nullable: false }, // an empty field is not a timestamp
    ]);
    const v = await rows(`SELECT s, n, t FROM read_parquet(${q(join(dir, "nulls.parquet"))})`);
    expect(v).toEqual([
      ["x", null, "2024-01-01 00:00:00"],
      ["", 2n, ""],
      [null, 3n, "2024-01-01 00:00:00"],
    ]);
  });

  it("timestamps at the ends of int64 microseconds, and a date column that widens to timestamp", async () => {
    const lines = ["at,d"];
    for (let i = 0; i < 1500; i++) lines.push(`1970-01-01 00:00:00,2024-01-0${1 + (i % 9)}`);
    lines.push("2262-04-11T23:47:16.854Z,2024-01-01 12:00:00", "1677-09-21 00:12:44,2024-01-01");
    const p = await csvFile("far.csv", lines.join("\n") + "\n");
    const { outcome } = await crossCheck(p, "far");
    expect(outcome.schema.map((f) => f.type)).toEqual(["timestamp", "timestamp"]);
  });
});

describe("CSV quirks", () => {
  it("BOM, CRLF, a lone CR and LF mixed, quoted newlines and doubled quotes, blank lines", async () => {
    const p = await csvFile(
      "quirks.csv",
      '\ufeffid,text,n\r\n1,"a ""quoted"", word",1\r2,"two\r\nlines\nhere",\n\n3,plain "inner" quote,3\r\n4,"",4',
    );
    // DuckDB's own CSV reader refuses this mix (strict mode): the rows are checked by value.
    const { outcome } = await crossCheck(p, "quirks", [""], false);
    expect(outcome.schema.map((f) => `${f.name}:${f.type}:${f.nullable}`)).toEqual([
      "id:int64:false",
      "text:string:true",
      "n:int64:true",
    ]);
    const v = await rows(
      `SELECT id, text, n FROM read_parquet(${q(join(dir, "quirks.parquet"))}) ORDER BY id`,
    );
    expect(v).toEqual([
      [1n, 'a "quoted", word', 1n],
      [2n, "two\r\nlines\nhere", null],
      [3n, 'plain "inner" quote', 3n],
      [4n, null, 4n],
    ]);
  });

  it("very wide rows: 100 columns of long strings, row groups cut by bytes", async () => {
    const width = 100;
    const lines = [Array.from({ length: width }, (_, i) => `c${i}`).join(",")];
    for (let r = 0; r < 300; r++)
      lines.push(Array.from({ length: width }, (_, i) => `${"x".repeat(2000)}${r}-${i}`).join(","));
    const p = await csvFile("wide.csv", lines.join("\n") + "\n");
    const { parquet, outcome } = await convertFile(p, { rowGroupBytes: 8 * 1024 * 1024 });
    expect(outcome.rows).toBe(300);
    const meta = parquetMetadata(
      parquet.buffer.slice(
        parquet.byteOffset,
        parquet.byteOffset + parquet.byteLength,
      ) as ArrayBuffer,
    );
    expect(meta.row_groups.length).toBeGreaterThan(5); // 60 MB of strings in groups of ≤ 8 MiB
    await crossCheck(p, "wide");
  });

  it("invalid UTF-8 is a 400 naming the line and column; in the header too", async () => {
    const bad = new Uint8Array([
      ...new TextEncoder().encode("id,name\n1,ok\n2,caf"),
      0xe9,
      ...new TextEncoder().encode("\n3,x\n"),
    ]);
    const p = await csvFile("latin1.csv", bad);
    await expect(convertFile(p)).rejects.toThrow(/CSV line 3, column 2 \("name"\): invalid UTF-8/);
    const head = await csvFile("latin1-head.csv", new Uint8Array([0x69, 0xff, 0x0a, 0x31, 0x0a]));
    await expect(convertFile(head)).rejects.toThrow(
      /CSV line 1, column 1: invalid UTF-8 in the header/,
    );
  });
});
