// Compaction, the Parquet part (issue #13): POST /ingest/compact and compactObjects rewrite a
// dataset's objects into objects of full row groups, rows in order (nulls and timestamps
// included), Iceberg-ready (field ids, MICROS timestamps); bad keys are refused by field, and
// a failure leaves no output behind. Also: what ingest itself now writes (field ids, MICROS).
import { env, exports } from "cloudflare:workers";
import { decompress as zstdDecompress } from "fzstd";
import { type Compressors, parquetMetadata, parquetReadObjects } from "hyparquet";
import { parquetWriteBuffer } from "hyparquet-writer";
import { describe, expect, it } from "vitest";
import { ServiceClient, serviceClient } from "../../../shared/clients";
import { toHex } from "../../../shared/hash";
import { type CompactInput, compactObjects } from "../src/compact";
import { compressorsFor } from "../src/compression";

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const storage = serviceClient(env as unknown as Record<string, unknown>, "storage");

async function ingest(query: string, body: string): Promise<{ status: number; body: Json }> {
  const res = await exports.default.fetch(`http://x/ingest?${query}`, {
    method: "POST",
    body,
    headers: { "content-type": "text/csv" },
  });
  return { status: res.status, body: await res.json() };
}

async function compact(body: unknown): Promise<{ status: number; body: Json }> {
  const res = await exports.default.fetch("http://x/ingest/compact", {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
  });
  return { status: res.status, body: await res.json() };
}

async function readObject(key: string): Promise<ArrayBuffer> {
  const res = await env.STORAGE.fetch(`http://storage/storage/objects/${key}`);
  expect(res.status, key).toBe(200);
  return res.arrayBuffer();
}

/** The Parquet objects under a prefix (the catalog may keep other files beside them, e.g. Iceberg metadata). */
async function listKeys(prefix: string): Promise<string[]> {
  const res = await env.STORAGE.fetch(
    `http://storage/storage/list?prefix=${encodeURIComponent(prefix)}`,
  );
  return ((await res.json()) as Json).objects
    .map((o: Json) => o.key as string)
    .filter((k: string) => k.endsWith(".parquet"))
    .sort();
}

async function putObject(key: string, body: BodyInit): Promise<number> {
  const res = await env.STORAGE.fetch(`http://storage/storage/objects/${key}`, {
    method: "PUT",
    body,
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as Json).size;
}

/** Rows as plain comparable values: bigint ids, timestamps as ISO text, nulls as null. */
function plain(rows: Record<string, unknown>[]): unknown[][] {
  return rows.map((r) => [
    r.id,
    r.name ?? null,
    r.score ?? null,
    r.ok ?? null,
    r.at instanceof Date ? r.at.toISOString() : (r.at ?? null),
  ]);
}

const DECOMPRESSORS: Compressors = {
  ZSTD: (input, outputLength) => zstdDecompress(input, new Uint8Array(outputLength)),
};

async function rowsOf(keys: string[]): Promise<unknown[][]> {
  const out: unknown[][] = [];
  for (const key of keys)
    out.push(
      ...plain(
        await parquetReadObjects({ file: await readObject(key), compressors: DECOMPRESSORS }),
      ),
    );
  return out;
}

const HEADER = "id,name,score,ok,at\n";
const CSVS = [
  HEADER +
    "1,alpha,1.5,true,2024-01-15T09:30:00.123Z\n2,,2.25,false,\n3,gamma,,true,1969-07-20 20:17:40\n",
  HEADER + '4,delta,4,,2024-02-29\n5,"eps, ilon",-0.5,false,2024-03-10T14:00:00+02:00\n',
  HEADER +
    "6,zeta,6.5,true,2024-04-01T00:00:00.001Z\n7,eta,,,\n8,theta,8,false,1900-01-01\n9,,9.75,true,2262-04-11T23:47:16.854Z\n",
  HEADER +
    "10,iota,10,true,2024-05-05 05:05:05.5\n11,kappa,11,false,2024-05-05 05:05:05.5\n12,lambda,-12.5,,2024-05-05 05:05:05.5\n",
  HEADER + "13,mu,13,true,2030-12-31T23:59:59.999Z\n14,nu,,false,\n",
];
const EXPECTED_AT = [
  "2024-01-15T09:30:00.123Z",
  null,
  "1969-07-20T20:17:40.000Z",
  "2024-02-29T00:00:00.000Z",
  "2024-03-10T12:00:00.000Z",
  "2024-04-01T00:00:00.001Z",
  null,
  "1900-01-01T00:00:00.000Z",
  "2262-04-11T23:47:16.854Z",
  "2024-05-05T05:05:05.500Z",
  "2024-05-05T05:05:05.500Z",
  "2024-05-05T05:05:05.500Z",
  "2030-12-31T23:59:59.999Z",
  null,
];

let manifest: Json;

async function ingestEvents(): Promise<Json> {
  if (manifest) return manifest;
  for (const [i, csv] of CSVS.entries()) {
    const { status, body } = await ingest(
      `name=events&mode=${i === 0 ? "replace" : "append"}`,
      csv,
    );
    expect(status, JSON.stringify(body)).toBe(200);
    manifest = body;
  }
  expect(manifest.objects).toHaveLength(CSVS.length);
  expect(manifest.row_count).toBe(14);
  expect(manifest.schema.map((f: Json) => `${f.name}:${f.type}`)).toEqual([
    "id:int64",
    "name:string",
    "score:float64",
    "ok:bool",
    "at:timestamp",
  ]);
  return manifest;
}

function inputs(m: Json): CompactInput[] {
  return m.objects.map((o: Json) => ({ key: o.key, size: o.size, row_count: o.row_count }));
}

describe("Iceberg-ready Parquet from ingest", () => {
  it("writes field ids 1..n and timestamps as INT64 TIMESTAMP(MICROS, UTC) that read back to the same instants", async () => {
    const m = await ingestEvents();
    const meta = parquetMetadata(await readObject(m.objects[0].key));
    expect(meta.schema[0]!.field_id).toBeUndefined();
    expect(meta.schema.slice(1).map((e) => [e.name, e.field_id])).toEqual([
      ["id", 1],
      ["name", 2],
      ["score", 3],
      ["ok", 4],
      ["at", 5],
    ]);
    const at = meta.schema[5]!;
    expect(at.type).toBe("INT64");
    expect(at.converted_type).toBe("TIMESTAMP_MICROS");
    expect(at.logical_type).toEqual({ type: "TIMESTAMP", isAdjustedToUTC: true, unit: "MICROS" });
    // The raw stored values are microseconds (statistics too).
    const raw = await parquetReadObjects({
      file: await readObject(m.objects[0].key),
      columns: ["at"],
      parsers: { timestampFromMicroseconds: (v: bigint) => v },
    });
    expect(raw.map((r) => r.at ?? null)).toEqual([1705311000123000n, null, -14182940000000n]);
    const stats = meta.row_groups[0]!.columns[4]!.meta_data!.statistics!;
    expect([stats.min_value, stats.max_value].map((d) => (d as Date).toISOString())).toEqual([
      "1969-07-20T20:17:40.000Z",
      "2024-01-15T09:30:00.123Z",
    ]);
    expect((await rowsOf(m.objects.map((o: Json) => o.key))).map((r) => r[4])).toEqual(EXPECTED_AT);
  });
});

describe("POST /ingest/compact", () => {
  it("rewrites the manifest's objects into one object with the same rows in order, and registers nothing", async () => {
    const m = await ingestEvents();
    const before = await listKeys("datasets/events/");
    const inputRows = await rowsOf(m.objects.map((o: Json) => o.key));
    // The manifest's objects as they are (content_sha256 included) are a valid body.
    const { status, body } = await compact({
      name: "events",
      schema: m.schema,
      objects: m.objects,
    });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.objects).toHaveLength(1);
    const out = body.objects[0];
    expect(Object.keys(out).sort()).toEqual(["content_sha256", "key", "row_count", "size"]);
    expect(out.key).toMatch(/^datasets\/events\/[0-9a-f-]{36}\.parquet$/);
    expect(out.row_count).toBe(14);
    const buf = await readObject(out.key);
    expect(buf.byteLength).toBe(out.size);
    expect(out.content_sha256).toBe(toHex(await crypto.subtle.digest("SHA-256", buf)));

    const outRows = await rowsOf([out.key]);
    expect(outRows).toEqual(inputRows);
    expect(outRows.map((r) => r[4])).toEqual(EXPECTED_AT);
    expect(outRows.map((r) => r[0])).toEqual(Array.from({ length: 14 }, (_, i) => BigInt(i + 1)));
    expect(outRows[1]).toEqual([2n, null, 2.25, false, null]);
    expect(outRows[4]).toEqual([5n, "eps, ilon", -0.5, false, "2024-03-10T12:00:00.000Z"]);

    const meta = parquetMetadata(buf);
    expect(meta.row_groups.map((g) => Number(g.num_rows))).toEqual([14]); // [ingestd].row_group_rows = 100000: one partial group
    expect(meta.schema.slice(1).map((e) => e.field_id)).toEqual([1, 2, 3, 4, 5]);
    expect(meta.schema[5]!.logical_type).toEqual({
      type: "TIMESTAMP",
      isAdjustedToUTC: true,
      unit: "MICROS",
    });
    expect(meta.row_groups[0]!.columns[0]!.meta_data!.codec).toBe("SNAPPY");

    // Inputs untouched, one new object beside them, the catalog unchanged.
    expect(await listKeys("datasets/events/")).toEqual([...before, out.key].sort());
    const cat = await env.CATALOG.fetch("http://catalog/catalog/manifest/events");
    const current = (await cat.json()) as Json;
    expect(current.version).toBe(m.version);
    expect(current.objects.map((o: Json) => o.key)).toEqual(m.objects.map((o: Json) => o.key));
    await storage.fetch(`/objects/${out.key}`, { method: "DELETE" });
  });

  it("refuses a bad body or a key outside <prefix><name>/ with a 400 naming the field, and writes nothing", async () => {
    const m = await ingestEvents();
    const before = await listKeys("datasets/");
    const objs = inputs(m);
    const cases: [unknown, RegExp][] = [
      [
        {
          name: "events",
          schema: m.schema,
          objects: [objs[0], { ...objs[1], key: "datasets/other/x.parquet" }],
        },
        /body\.objects\[1\]\.key: "datasets\/other\/x\.parquet" is not a data object of dataset "events"/,
      ],
      [
        {
          name: "events",
          schema: m.schema,
          objects: [{ ...objs[0], key: "datasets/events2/x.parquet" }],
        },
        /body\.objects\[0\]\.key: .* \(expected "datasets\/events\/<file>\.parquet"\)/,
      ],
      [
        {
          name: "events",
          schema: m.schema,
          objects: [objs[0], { ...objs[1], key: "datasets/events/../other/x.parquet" }],
        },
        /body\.objects\[1\]\.key:/,
      ],
      [
        { name: "events", schema: m.schema, objects: [{ ...objs[0], key: "_ingest/x.csv" }] },
        /body\.objects\[0\]\.key:/,
      ],
      [
        {
          name: "events",
          schema: m.schema,
          objects: [{ ...objs[0], key: "datasets/events/metadata/snap-1.avro" }],
        },
        /body\.objects\[0\]\.key:/,
      ],
      [
        { name: "events", schema: m.schema, objects: [{ ...objs[0], key: "datasets/events/" }] },
        /body\.objects\[0\]\.key:/,
      ],
      [
        { name: "events", schema: m.schema, objects: [objs[0], objs[1], objs[0]] },
        /body\.objects\[2\]\.key: .* listed twice \(also objects\[0\]\)/,
      ],
      [
        { name: "events", schema: m.schema, objects: [{ ...objs[0], size: -1 }] },
        /body\.objects\[0\]\.size/,
      ],
      [
        { name: "events", schema: m.schema, objects: [{ key: objs[0]!.key, size: 1 }] },
        /body\.objects\[0\]\.row_count/,
      ],
      [
        { name: "events", schema: m.schema, objects: [] },
        /body\.objects: expected at least one object/,
      ],
      [
        { name: "events", schema: [{ name: "id", type: "int32" }], objects: objs },
        /body\.schema\[0\]\.type: expected one of/,
      ],
      [{ name: "bad name", schema: m.schema, objects: objs }, /body\.name: invalid dataset name/],
      [{ schema: m.schema, objects: objs }, /body\.name: missing/],
      [
        { name: "events", schema: [...m.schema, m.schema[0]], objects: objs },
        /body\.schema\[5\]\.name: duplicate column name "id"/,
      ],
    ];
    for (const [body, message] of cases) {
      const res = await compact(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.message, JSON.stringify(body)).toMatch(message);
    }
    // What the files say is checked too: the declared size and row count, the columns.
    const wrongRows = await compact({
      name: "events",
      schema: m.schema,
      objects: [objs[0], { ...objs[1], row_count: 3 }],
    });
    expect(wrongRows.status).toBe(400);
    expect(wrongRows.body.error.message).toMatch(
      /objects\[1\]\.row_count: declared 3 rows, .* has 2/,
    );
    const wrongSize = await compact({
      name: "events",
      schema: m.schema,
      objects: [{ ...objs[0], size: objs[0]!.size - 1 }],
    });
    expect(wrongSize.status).toBe(400);
    expect(wrongSize.body.error.message).toMatch(/objects\[0\]\.size: declared/);
    const wrongType = await compact({
      name: "events",
      schema: m.schema.map((f: Json) => (f.name === "score" ? { ...f, type: "string" } : f)),
      objects: objs,
    });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.error.message).toMatch(
      /column "score" of .* is DOUBLE, not the schema's string/,
    );
    expect(await listKeys("datasets/")).toEqual(before);
  });

  it("a missing object is an error naming it, and no output is left in storage", async () => {
    const m = await ingestEvents();
    const before = await listKeys("datasets/events/");
    const objs = [
      ...inputs(m),
      { key: "datasets/events/missing.parquet", size: 100, row_count: 1 },
    ];
    const { status, body } = await compact({ name: "events", schema: m.schema, objects: objs });
    expect(status).toBe(404);
    expect(body.error.message).toMatch(
      /objects\[5\]\.key: object "datasets\/events\/missing\.parquet" not found/,
    );
    expect(await listKeys("datasets/events/")).toEqual(before);
  });
});

describe("compactObjects", () => {
  it("writes full row groups (the last one partial), starts a new object after the bound, keeps order", async () => {
    const m = await ingestEvents();
    const inputRows = await rowsOf(m.objects.map((o: Json) => o.key));
    const before = await listKeys("datasets/events/");
    const { objects } = await compactObjects({
      storage,
      prefix: "datasets/",
      name: "events",
      schema: m.schema,
      objects: inputs(m),
      rowGroupRows: 3,
      codec: "SNAPPY",
      maxGroupsPerObject: 2,
    });
    // 14 rows: groups 3,3 | 3,3 | 2
    expect(objects.map((o) => o.row_count)).toEqual([6, 6, 2]);
    const groups: number[][] = [];
    for (const o of objects) {
      const buf = await readObject(o.key);
      expect(buf.byteLength).toBe(o.size);
      expect(o.content_sha256).toBe(toHex(await crypto.subtle.digest("SHA-256", buf)));
      const meta = parquetMetadata(buf);
      groups.push(meta.row_groups.map((g) => Number(g.num_rows)));
      expect(meta.schema.slice(1).map((e) => e.field_id)).toEqual([1, 2, 3, 4, 5]);
    }
    expect(groups).toEqual([[3, 3], [3, 3], [2]]);
    expect(await rowsOf(objects.map((o) => o.key))).toEqual(inputRows);
    expect(await listKeys("datasets/events/")).toEqual(
      [...before, ...objects.map((o) => o.key)].sort(),
    );
    for (const o of objects) await storage.fetch(`/objects/${o.key}`, { method: "DELETE" });
  });

  it("reads objects written before MICROS (TIMESTAMP_MILLIS, no field ids) and ZSTD, and writes MICROS", async () => {
    // An object as ingest wrote it before issue #13: MILLIS timestamps, no field ids.
    const old = parquetWriteBuffer({
      columnData: [
        { name: "id", data: [100n, 101n], type: "INT64", nullable: true },
        { name: "name", data: ["old", null], type: "STRING", nullable: true },
        { name: "score", data: [null, 1.25], type: "DOUBLE", nullable: true },
        { name: "ok", data: [true, null], type: "BOOLEAN", nullable: true },
        {
          name: "at",
          data: [Date.UTC(2020, 1, 29, 12, 0, 0, 7), null],
          type: "TIMESTAMP",
          nullable: true,
        },
      ],
    });
    const oldMeta = parquetMetadata(old);
    expect(oldMeta.schema[5]!.converted_type).toBe("TIMESTAMP_MILLIS");
    expect(oldMeta.schema[1]!.field_id).toBeUndefined();
    const key = "datasets/legacy/old.parquet";
    const size = await putObject(key, old);
    const schema = [
      { name: "id", type: "int64", nullable: true },
      { name: "name", type: "string", nullable: true },
      { name: "score", type: "float64", nullable: true },
      { name: "ok", type: "bool", nullable: true },
      { name: "at", type: "timestamp", nullable: true },
    ] as const;
    const first = await compactObjects({
      storage,
      prefix: "datasets/",
      name: "legacy",
      schema: [...schema],
      objects: [{ key, size, row_count: 2 }],
      rowGroupRows: 10,
      codec: "ZSTD",
      compressors: await compressorsFor("ZSTD"),
    });
    const out = first.objects[0]!;
    const meta = parquetMetadata(await readObject(out.key));
    expect(meta.row_groups[0]!.columns[0]!.meta_data!.codec).toBe("ZSTD");
    expect(meta.schema[5]!.logical_type).toEqual({
      type: "TIMESTAMP",
      isAdjustedToUTC: true,
      unit: "MICROS",
    });
    expect(await rowsOf([out.key])).toEqual([
      [100n, "old", null, true, "2020-02-29T12:00:00.007Z"],
      [101n, null, 1.25, null, null],
    ]);
    // A ZSTD output reads back as input in turn (large-object path: ranged reads, not one GET).
    const second = await compactObjects({
      storage,
      prefix: "datasets/",
      name: "legacy",
      schema: [...schema],
      objects: [out, { key, size, row_count: 2 }],
      rowGroupRows: 3,
      codec: "SNAPPY",
      wholeReadBytes: 0,
    });
    expect(second.objects.map((o) => o.row_count)).toEqual([4]);
    expect((await rowsOf([second.objects[0]!.key])).map((r) => r[4])).toEqual([
      "2020-02-29T12:00:00.007Z",
      null,
      "2020-02-29T12:00:00.007Z",
      null,
    ]);
  });

  it("a failure mid-way (an unreadable object after good ones) deletes every output already written", async () => {
    const m = await ingestEvents();
    const junkKey = "datasets/events/junk.parquet";
    const junkSize = await putObject(junkKey, "this is not parquet at all, PAR1?");
    const before = await listKeys("datasets/events/");
    // The storage binding, watched: which objects the run PUT and DELETEd.
    const calls: string[] = [];
    const watched = new ServiceClient(
      {
        fetch: (input: RequestInfo | URL, init?: RequestInit) => {
          const req = new Request(input, init);
          if (req.method !== "GET")
            calls.push(
              `${req.method} ${new URL(req.url).pathname.replace("/storage/objects/", "")}`,
            );
          return env.STORAGE.fetch(req);
        },
      } as Fetcher,
      "storage",
    );
    const run = (objects: CompactInput[]) =>
      compactObjects({
        storage: watched,
        prefix: "datasets/",
        name: "events",
        schema: m.schema,
        objects,
        rowGroupRows: 4,
        codec: "SNAPPY",
        maxGroupsPerObject: 2,
      });
    // 14 rows: one output is complete (4+4), the next is being written (4, and 2 rows wait) when the junk is reached.
    await expect(
      run([...inputs(m), { key: junkKey, size: junkSize, row_count: 1 }]),
    ).rejects.toThrow(
      /objects\[5\]\.key: "datasets\/events\/junk\.parquet" is not a readable Parquet file/,
    );
    const puts = calls.filter((c) => c.startsWith("PUT ")).map((c) => c.slice(4));
    expect(puts).toHaveLength(2);
    expect(
      calls
        .filter((c) => c.startsWith("DELETE "))
        .map((c) => c.slice(7))
        .sort(),
    ).toEqual([...puts].sort());
    expect(await listKeys("datasets/events/")).toEqual(before);
    // The same for a missing object, through the large-object (ranged) path.
    await expect(
      compactObjects({
        storage,
        prefix: "datasets/",
        name: "events",
        schema: m.schema,
        objects: [...inputs(m), { key: "datasets/events/gone.parquet", size: 10, row_count: 1 }],
        rowGroupRows: 4,
        codec: "SNAPPY",
        maxGroupsPerObject: 1,
        wholeReadBytes: 0,
      }),
    ).rejects.toThrow(/objects\[5\]\.key: object "datasets\/events\/gone\.parquet" not found/);
    expect(await listKeys("datasets/events/")).toEqual(before);
    await storage.fetch(`/objects/${junkKey}`, { method: "DELETE" });
  });
});
