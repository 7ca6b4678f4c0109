// The data plane through the gateway, as a user drives it: ingest CSVs, read manifests,
// versions and Parquet objects back, kill and restart on the same state, bad input; and
// real files (vega-datasets) cross-checked against DuckDB reading the same CSV.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { parquetReadObjects } from "hyparquet";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type System, startSystem } from "./harness";

const ROOT = resolve(import.meta.dirname, "../..");
const PEOPLE = readFileSync(join(ROOT, "test/fixtures/people.csv"), "utf8");
const QUIRKS = readFileSync(join(ROOT, "test/fixtures/quirks.csv"));
const BOM = readFileSync(join(ROOT, "test/fixtures/bom.csv"));
const VEGA = join(ROOT, "node_modules/vega-datasets/data");

let sys: System;
let tmp: string;
beforeAll(async () => {
  sys = await startSystem();
  tmp = mkdtempSync(join(tmpdir(), "lakehouse-dataplane-"));
});
afterAll(async () => {
  await sys?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function ingest(query: string, body: BodyInit, contentType = "text/csv") {
  return sys.json(`/v1/ingest?${query}`, {
    method: "POST",
    body,
    headers: { "content-type": contentType },
  });
}

async function objectBytes(key: string): Promise<ArrayBuffer> {
  const res = await sys.fetch(`/v1/storage/objects/${key}`);
  expect(res.status, key).toBe(200);
  return res.arrayBuffer();
}

describe("data plane round trip", () => {
  let v1Key = "";

  it("ingests the people CSV; manifest, list and storage show it; the Parquet has the same rows", async () => {
    const { status, body } = await ingest("name=people", PEOPLE);
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ name: "people", version: 1, row_count: 4 });
    expect(body.schema.map((f: any) => `${f.name}:${f.type}`)).toEqual([
      "id:int64",
      "name:string",
      "age:int64",
      "score:float64",
      "active:bool",
      "joined:timestamp",
    ]);
    v1Key = body.objects[0].key;

    const manifest = await sys.json("/v1/catalog/manifest/people");
    expect(manifest.status).toBe(200);
    expect(manifest.body.objects).toEqual(body.objects);
    const list = await sys.json("/v1/catalog/list");
    expect(list.body.datasets.find((d: any) => d.name === "people")).toMatchObject({
      row_count: 4,
      version: 1,
      dataset_id: body.dataset_id,
    });
    const listed = await sys.json("/v1/storage/list?prefix=datasets/people/");
    // the data file, beside the table's Iceberg metadata under datasets/people/metadata/
    expect(
      listed.body.objects
        .map((o: any) => o.key)
        .filter((k: string) => !k.startsWith("datasets/people/metadata/")),
    ).toEqual([v1Key]);

    const rows = await parquetReadObjects({ file: await objectBytes(v1Key) });
    expect(rows.map((r) => [Number(r.id), r.name, Number(r.age), r.score, r.active])).toEqual([
      [1, "Ada Lovelace", 36, 91.5, true],
      [2, "Alan Turing", 41, 88.25, false],
      [3, "Grace Hopper", 85, null, true],
      [4, "Edsger Dijkstra", 72, 79, false],
    ]);
  });

  it("re-ingest is idempotent; drift is a 409 naming both fingerprints; append makes version 2", async () => {
    const again = await ingest("name=people", PEOPLE);
    expect(again.body).toMatchObject({ version: 1, changed: false });

    const drift = await ingest("name=people", "id,name\n1,x\n");
    expect(drift.status).toBe(409);
    const fp = (await sys.json("/v1/catalog/manifest/people")).body.schema_fingerprint;
    expect(drift.body.error.message).toContain(fp);
    expect(drift.body.error.message).toMatch(/new fingerprint [0-9a-f]{64}/);

    const more = await ingest(
      "name=people&mode=append",
      "id,name,age,score,active,joined\n5,Barbara Liskov,84,95,true,2024-04-01\n",
    );
    expect(more.status, JSON.stringify(more.body)).toBe(200);
    expect(more.body).toMatchObject({ version: 2, row_count: 5 });
    const v1 = await sys.json("/v1/catalog/manifest/people?version=1");
    expect(v1.body).toMatchObject({ version: 1, row_count: 4 });
    const history = await sys.json("/v1/catalog/history/people");
    expect(history.body.versions.map((v: any) => v.version)).toEqual([2, 1]);
  });

  it("survives a kill and restart: manifests, versions and objects are still there", async () => {
    await sys.restart();
    const m = await sys.json("/v1/catalog/manifest/people");
    expect(m.body).toMatchObject({ version: 2, row_count: 5 });
    expect((await sys.json("/v1/catalog/manifest/people?version=1")).body.row_count).toBe(4);
    const rows = await parquetReadObjects({ file: await objectBytes(v1Key) });
    expect(rows).toHaveLength(4);
    const next = await ingest(
      "name=people&mode=append",
      "id,name,age,score,active,joined\n6,Ken Thompson,82,90.5,true,2024-05-01\n",
    );
    expect(next.body).toMatchObject({ version: 3, row_count: 6 });
  });

  it("handles quirky CSVs (quotes, embedded newlines, CRLF, BOM, leading zeros)", async () => {
    const q = await ingest("name=quirks", QUIRKS);
    expect(q.status, JSON.stringify(q.body)).toBe(200);
    const rows = await parquetReadObjects({ file: await objectBytes(q.body.objects[0].key) });
    expect(rows.map((r) => r.comment)).toEqual([
      "hello, world",
      'she said "hi"',
      "two\r\nlines",
      "plain",
    ]);
    expect(rows.map((r) => r.amount)).toEqual([10n, 20n, 30n, null]);
    const b = await ingest("name=bom", BOM);
    expect(b.body.schema.map((f: any) => `${f.name}:${f.type}`)).toEqual([
      "code:string",
      "label:string",
    ]);
  });

  it("deletes a dataset and its objects", async () => {
    await ingest("name=doomed", "a\n1\n");
    const keys = (await sys.json("/v1/catalog/manifest/doomed")).body.objects.map(
      (o: any) => o.key,
    );
    expect((await sys.fetch("/v1/catalog/manifest/doomed", { method: "DELETE" })).status).toBe(204);
    expect((await sys.json("/v1/catalog/manifest/doomed")).status).toBe(404);
    for (const k of keys) expect((await sys.fetch(`/v1/storage/objects/${k}`)).status).toBe(404);
  });

  it("answers bad input with its status and a message naming the problem", async () => {
    const cases: [string, string, number, RegExp][] = [
      ["mode=append", "a\n1\n", 400, /name/],
      ["name=x", "a,b\n1,2\n3\n", 400, /line 3/],
      ["name=x", 'a,b\n1,"2\n', 400, /line 2: unterminated quoted field/],
      ["name=x", "", 400, /empty/],
      ["name=x", "a,b\n", 400, /no data rows/],
      ["name=x", "a,a\n1,2\n", 400, /duplicate column name "a"/],
    ];
    for (const [query, body, status, message] of cases) {
      const res = await ingest(query, body);
      expect(res.status, `${query} ${JSON.stringify(body)}`).toBe(status);
      expect(res.body.error.message).toMatch(message);
    }
    const noFile = await sys.json("/v1/ingest?name=x", { method: "POST" });
    expect(noFile.status).toBe(400);
    expect(noFile.body.error.message).toMatch(/file/);
    // The seed's path is the family root; /v1/ingest/ingest is an alias that answers the same.
    const viaAlias = await sys.json("/v1/ingest/ingest?name=alias_people", {
      method: "POST",
      body: "id\n1\n",
      headers: { "content-type": "text/csv" },
    });
    expect(viaAlias.status).toBe(200);
    expect(viaAlias.body.row_count).toBe(1);
    const viaRoot = await ingest("name=alias_people&mode=append", "id\n2\n");
    expect(viaRoot.status).toBe(200);
    expect(viaRoot.body.row_count).toBe(2);
    const missing = await sys.json("/v1/storage/objects/no/such/key");
    expect(missing.status).toBe(404);
    expect(missing.body.error.message).toContain('"no/such/key"');
    for (const [key, message] of [
      ["a%2F..%2Fb", /"\.\."/],
      ["%2Fabs", /starts with/],
      ["tab%09x", /tab/],
    ] as const) {
      const res = await sys.json(`/v1/storage/objects/${key}`, { method: "PUT", body: "x" });
      expect(res.status, key).toBe(400);
      expect(res.body.error.message).toMatch(message);
    }
    expect((await sys.json("/v1/catalog/manifest/x")).status).toBe(404);
  });
});

describe("real files: vega-datasets CSVs against DuckDB", () => {
  const DUCK_TYPES: Record<string, string> = {
    int64: "BIGINT",
    float64: "DOUBLE",
    bool: "BOOLEAN",
    date: "DATE",
    timestamp: "TIMESTAMPTZ",
    string: "VARCHAR",
  };
  const EXPECTED: Record<string, Record<string, string>> = {
    zipcodes: {
      zip_code: "string",
      latitude: "float64",
      longitude: "float64",
      city: "string",
      state: "string",
    },
    airports: { iata: "string", name: "string", latitude: "float64", longitude: "float64" },
    birdstrikes: {
      "Flight Date": "date",
      "Cost Total $": "int64",
      "Speed IAS in knots": "int64",
      "Wildlife Species": "string",
    },
    github: { time: "string", count: "int64" },
  };

  for (const file of Object.keys(EXPECTED)) {
    it(`${file}.csv: sensible types; DuckDB reads the same rows from our Parquet as from the CSV`, async () => {
      const csvPath = join(VEGA, `${file}.csv`);
      const { status, body } = await ingest(`name=${file}`, readFileSync(csvPath));
      expect(status, JSON.stringify(body)).toBe(200);
      const types = Object.fromEntries(body.schema.map((f: any) => [f.name, f.type]));
      expect(types).toMatchObject(EXPECTED[file]!);

      const pq = join(tmp, `${file}.parquet`);
      writeFileSync(pq, Buffer.from(await objectBytes(body.objects[0].key)));
      const db = await DuckDBInstance.create(":memory:");
      const con = await db.connect();
      try {
        await con.run("SET TimeZone = 'UTC'");
        const columns = `{${body.schema.map((f: any) => `'${f.name.replace(/'/g, "''")}': '${DUCK_TYPES[f.type]}'`).join(", ")}}`;
        const csv = `read_csv('${csvPath}', header = true, columns = ${columns})`;
        const parquet = `read_parquet('${pq}')`;
        const count = async (from: string) =>
          Number((await con.runAndReadAll(`SELECT count(*) FROM ${from}`)).getRows()[0]![0]);
        const sniffed = await count(`read_csv('${csvPath}')`);
        expect(await count(parquet)).toBe(sniffed);
        expect(body.row_count).toBe(sniffed);
        for (const [a, b] of [
          [csv, parquet],
          [parquet, csv],
        ] as const) {
          const diff = (
            await con.runAndReadAll(
              `SELECT count(*) FROM (SELECT * FROM ${a} EXCEPT ALL SELECT * FROM ${b})`,
            )
          ).getRows()[0]![0];
          expect(Number(diff), `${file}: rows of ${a.slice(0, 12)} missing from the other`).toBe(0);
        }
      } finally {
        con.closeSync();
        db.closeSync();
      }
    });
  }
});
