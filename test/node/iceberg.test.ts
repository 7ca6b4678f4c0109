// shared/iceberg checked against independent readers, in Node:
//  (a) every Avro file (manifests, manifest lists) decoded by avsc, every field compared;
//  (b) the whole table read by icebird 0.3.1 (hyparquet's authors) over HTTP: an append
//      snapshot with two manifests, an overwrite with DELETED/EXISTING/ADDED entries in one
//      manifest, and time travel to older snapshots;
//  (c) the lower/upper bounds decoded with Node's Buffer readers to the right values.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { type FileMetaData, parquetMetadata } from "hyparquet";
import { parquetWriteBuffer } from "hyparquet-writer";
import { icebergRead } from "icebird";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  type AvroSchema,
  AvroWriter,
  type DataFile,
  dataFileFromParquet,
  decodeBound,
  decodeDataFile,
  encodeDataFile,
  icebergSchema,
  type ManifestEntry,
  ManifestEntryStatus,
  type ManifestListEntry,
  manifestListEntry,
  nameMapping,
  PARQUET_STATS_PARSERS,
  type SnapshotInput,
  snapshotSummary,
  type TableMetadataJson,
  tableMetadata,
  writeAvroContainer,
  writeManifest,
  writeManifestList,
} from "../../shared/iceberg";
import type { SchemaField } from "../../shared/types";
import { avscDecode, fieldIds, plain, s3Fetch, serveDir } from "./avro-reader";
import { convertFile } from "./convert-node";

const BUCKET = "lake-test";
const TABLE_KEY = "datasets/people";
const TABLE = `s3://${BUCKET}/${TABLE_KEY}`;
const s3 = (key: string) => `s3://${BUCKET}/${key}`;

const FIELDS: SchemaField[] = [
  { name: "id", type: "int64", nullable: false },
  { name: "score", type: "float64", nullable: true },
  { name: "ok", type: "bool", nullable: true },
  { name: "at", type: "timestamp", nullable: true },
  { name: "name", type: "string", nullable: true },
];

type Unit = "MILLIS" | "MICROS";
type Cols = {
  id: bigint[];
  score: (number | null)[];
  ok: (boolean | null)[];
  at: (bigint | null)[];
  name: (string | null)[];
};

/** A Parquet file as ingest writes it (every column OPTIONAL; timestamps INT64 TIMESTAMP, UTC). */
function parquet(
  cols: Cols,
  opts: { unit: Unit; fieldIds: boolean; rowGroupSize?: number[]; truncate?: number },
): Uint8Array {
  const id = (i: number) => (opts.fieldIds ? { field_id: i + 1 } : {});
  const leaf = (f: SchemaField, i: number): any => {
    const base = { name: f.name, repetition_type: "OPTIONAL", ...id(i) };
    switch (f.type) {
      case "int64":
        return { ...base, type: "INT64" };
      case "float64":
        return { ...base, type: "DOUBLE" };
      case "bool":
        return { ...base, type: "BOOLEAN" };
      case "timestamp":
        return {
          ...base,
          type: "INT64",
          converted_type: `TIMESTAMP_${opts.unit}`,
          logical_type: { type: "TIMESTAMP", isAdjustedToUTC: true, unit: opts.unit },
        };
      case "string":
        return { ...base, type: "BYTE_ARRAY", converted_type: "UTF8" };
    }
  };
  const buf = parquetWriteBuffer({
    schema: [{ name: "root", num_children: FIELDS.length }, ...FIELDS.map(leaf)],
    columnData: FIELDS.map((f) => ({ name: f.name, data: cols[f.name as keyof Cols] as any })),
    rowGroupSize: opts.rowGroupSize,
    statistics: true,
    ...(opts.truncate !== undefined ? { statisticsTruncateLength: opts.truncate } : {}),
  });
  return new Uint8Array(buf);
}

// File A: new format (MICROS, field ids), two row groups. File B: older format (MILLIS, no field
// ids), a long string whose Parquet max is truncated. File C: MICROS, whole string statistics.
const A: Cols = {
  id: [1n, 2n, 3n, 4n, 5n],
  score: [1.5, null, -2.25, 0.5, 10],
  ok: [true, false, null, true, true],
  at: [1700000000123456n, 1700000000000001n, null, 1600000000999999n, 1700000000500000n],
  name: ["alice", "bob", null, "ann", "zoë"],
};
const LONG_NAME = "zed-with-a-rather-long-name-over-16-bytes";
const B: Cols = {
  id: [6n, 7n, 8n],
  score: [0, 0, 0],
  ok: [false, false, false],
  at: [1500000000001n, 1500000000003n, 1500000000002n], // milliseconds
  name: ["carol", LONG_NAME, "dave"],
};
const NAME_65 = "x".repeat(65);
const C: Cols = {
  id: [9n, 10n],
  score: [100.25, null],
  ok: [null, null],
  at: [null, 1800000000000000n],
  name: [NAME_65, "a"],
};

const KEYS = {
  A: `${TABLE_KEY}/a.parquet`,
  B: `${TABLE_KEY}/b.parquet`,
  C: `${TABLE_KEY}/c.parquet`,
};
const SYNC = new Uint8Array(16).map((_, i) => i * 7 + 1);

let root: string;
const files: Record<string, Uint8Array> = {};
const dataFiles: Record<"A" | "B" | "C", DataFile> = {} as never;
const footers: Record<"A" | "B" | "C", FileMetaData> = {} as never;
const avroFiles: Record<string, Uint8Array> = {};
const entries: Record<string, ManifestEntry[]> = {};
const lists: Record<string, ManifestListEntry[]> = {};
const metadata: Record<string, TableMetadataJson> = {};

async function put(key: string, bytes: Uint8Array | string): Promise<void> {
  const path = join(root, BUCKET, key);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
}

const toAb = (u: Uint8Array) =>
  u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "iceberg-test-"));
  files.A = parquet(A, { unit: "MICROS", fieldIds: true, rowGroupSize: [3, 2] });
  files.B = parquet(B, { unit: "MILLIS", fieldIds: false });
  files.C = parquet(C, { unit: "MICROS", fieldIds: true, truncate: Infinity });
  for (const k of ["A", "B", "C"] as const) {
    await put(KEYS[k], files[k]!);
    footers[k] = parquetMetadata(toAb(files[k]!), { parsers: PARQUET_STATS_PARSERS });
    dataFiles[k] = dataFileFromParquet(footers[k], {
      path: s3(KEYS[k]),
      fileSize: files[k]!.length,
      schema: FIELDS,
    });
  }

  // Snapshot 1 (append): manifest m1 with A ADDED, everything inherited.
  // Snapshot 2 (append): a new manifest m2 with B ADDED (explicit ids); the list keeps m1 too.
  // Snapshot 3 (overwrite): one manifest m3 with A DELETED, B EXISTING, C ADDED.
  entries.m1 = [
    {
      status: ManifestEntryStatus.ADDED,
      snapshotId: null,
      sequenceNumber: null,
      fileSequenceNumber: null,
      dataFile: dataFiles.A,
    },
  ];
  entries.m2 = [
    {
      status: ManifestEntryStatus.ADDED,
      snapshotId: 2,
      sequenceNumber: 2,
      fileSequenceNumber: 2,
      dataFile: dataFiles.B,
    },
  ];
  entries.m3 = [
    {
      status: ManifestEntryStatus.DELETED,
      snapshotId: 3,
      sequenceNumber: 1,
      fileSequenceNumber: 1,
      dataFile: dataFiles.A,
    },
    {
      status: ManifestEntryStatus.EXISTING,
      snapshotId: 2,
      sequenceNumber: 2,
      fileSequenceNumber: 2,
      dataFile: dataFiles.B,
    },
    {
      status: ManifestEntryStatus.ADDED,
      snapshotId: null,
      sequenceNumber: null,
      fileSequenceNumber: null,
      dataFile: dataFiles.C,
    },
  ];
  const schemaJson = JSON.stringify(icebergSchema(FIELDS));
  const record: Record<string, ManifestListEntry> = {};
  const snap: Record<string, number> = { m1: 1, m2: 2, m3: 3 };
  for (const m of ["m1", "m2", "m3"]) {
    const key = `${TABLE_KEY}/metadata/${m}.avro`;
    // m3 is written from our SchemaField list, the others from schema JSON: both forms.
    avroFiles[m] =
      m === "m3"
        ? writeManifest({ entries: entries[m]!, schema: FIELDS, syncMarker: SYNC })
        : writeManifest({ entries: entries[m]!, schemaJson, syncMarker: SYNC });
    await put(key, avroFiles[m]!);
    record[m] = manifestListEntry({
      path: s3(key),
      length: avroFiles[m]!.length,
      entries: entries[m]!,
      snapshotId: snap[m]!,
      sequenceNumber: snap[m]!,
    });
  }
  lists.l1 = [record.m1!];
  lists.l2 = [record.m1!, record.m2!];
  lists.l3 = [record.m3!];

  const snapshots: SnapshotInput[] = [];
  const ops = { 1: "append", 2: "append", 3: "overwrite" } as const;
  const live = { 1: [dataFiles.A], 2: [dataFiles.A, dataFiles.B], 3: [dataFiles.B, dataFiles.C] };
  const added = { 1: [dataFiles.A], 2: [dataFiles.B], 3: [dataFiles.C] };
  const deleted = { 1: [], 2: [], 3: [dataFiles.A] };
  const metadataLog: { timestampMs: number; metadataFile: string }[] = [];
  for (const n of [1, 2, 3] as const) {
    const key = `${TABLE_KEY}/metadata/snap-${n}.avro`;
    avroFiles[`l${n}`] = writeManifestList({
      manifests: lists[`l${n}`]!,
      snapshotId: n,
      parentSnapshotId: n === 1 ? null : n - 1,
      sequenceNumber: n,
      syncMarker: SYNC,
    });
    await put(key, avroFiles[`l${n}`]!);
    snapshots.push({
      snapshotId: n,
      parentSnapshotId: n === 1 ? null : n - 1,
      sequenceNumber: n,
      timestampMs: 1_764_000_000_000 + n * 1000,
      manifestList: s3(key),
      summary: snapshotSummary(ops[n], { added: added[n], deleted: deleted[n], live: live[n] }),
    });
    metadata[`v${n}`] = tableMetadata({
      tableUuid: "3f0c7a52-1b6e-4d0a-9c55-2f3e4d5a6b7c",
      location: TABLE,
      fields: FIELDS,
      snapshots,
      currentSnapshotId: n,
      lastUpdatedMs: 1_764_000_000_000 + n * 1000 + 1,
      metadataLog: [...metadataLog],
      properties: { "lakehouse.dataset": "people" },
    });
    await put(`${TABLE_KEY}/metadata/v${n}.metadata.json`, JSON.stringify(metadata[`v${n}`]));
    metadataLog.push({
      timestampMs: 1_764_000_000_000 + n * 1000 + 1,
      metadataFile: s3(`${TABLE_KEY}/metadata/v${n}.metadata.json`),
    });
  }
});

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------

describe("Avro container writer, decoded by avsc", () => {
  const schema: AvroSchema = {
    type: "record",
    name: "everything",
    fields: [
      { name: "n", type: "null" },
      { name: "b", type: "boolean" },
      { name: "i", type: "int" },
      { name: "l", type: "long" },
      { name: "f", type: "float" },
      { name: "d", type: "double" },
      { name: "by", type: "bytes" },
      { name: "s", type: "string" },
      { name: "opt", type: ["null", "long"], default: null },
      { name: "u", type: ["null", "string", "long"] },
      { name: "arr", type: { type: "array", items: "int" } },
      { name: "m", type: { type: "map", values: "double" } },
      { name: "e", type: { type: "enum", name: "E", symbols: ["A", "B", "C"] } },
      { name: "fx", type: { type: "fixed", name: "F4", size: 4 } },
      {
        name: "rec",
        type: { type: "record", name: "inner", fields: [{ name: "x", type: "string" }] },
      },
      {
        name: "kv",
        type: {
          type: "array",
          logicalType: "map",
          items: {
            type: "record",
            name: "k1_v2",
            fields: [
              { name: "key", type: "int" },
              { name: "value", type: "bytes" },
            ],
          },
        },
      },
    ],
  };
  const LONGS = [
    0n,
    1n,
    -1n,
    63n,
    -64n,
    64n,
    2n ** 31n - 1n,
    -(2n ** 31n),
    2n ** 31n,
    2n ** 53n + 1n,
    2n ** 63n - 1n,
    -(2n ** 63n),
  ];
  const records = LONGS.map((l, k) => ({
    n: null,
    b: k % 2 === 0,
    i: k % 2 ? 2 ** 31 - 1 : -(2 ** 31) + k,
    l,
    f: 1.5 * k,
    d: k === 3 ? -0 : Math.PI * k,
    by: new Uint8Array([k, 255, 0]),
    s: k === 1 ? "" : `ünïcødé ${"x".repeat(k * 20)} 🎉`,
    opt: k % 3 === 0 ? null : Number(k) * 1000,
    u: k % 3 === 0 ? null : k % 3 === 1 ? `s${k}` : BigInt(-k),
    arr: Array.from({ length: k }, (_, j) => j - k),
    m: k % 2 ? {} : { a: 1.25, ключ: -k },
    e: ["A", "B", "C"][k % 3]!,
    fx: new Uint8Array([1, 2, 3, k]),
    rec: { x: `r${k}` },
    kv: [{ key: k, value: new Uint8Array([k]) }],
  }));

  it("round-trips every type through avsc, in one block and in many", async () => {
    for (const blockBytes of [undefined, 40]) {
      const bytes = writeAvroContainer({
        schema,
        records,
        metadata: { "my-key": "välue" },
        syncMarker: SYNC,
        blockBytes,
      });
      const file = await avscDecode(bytes);
      expect(file.codec).toBe("null");
      expect(file.meta).toEqual({ "my-key": "välue" });
      expect(file.schemaJson).toEqual(schema);
      const got = file.records.map(plain);
      expect(got).toHaveLength(records.length);
      got.forEach((r, k) => {
        const want = records[k]!;
        expect(r).toEqual({
          ...want,
          n: null,
          opt: want.opt === null ? null : BigInt(want.opt),
          u: want.u,
          f: Math.fround(want.f),
          kv: want.kv,
        });
        if (k === 3) expect(Object.is(r.d, -0)).toBe(true);
      });
    }
  });

  it("writes a header-only file for no records, and refuses values that do not fit", async () => {
    const empty = await avscDecode(writeAvroContainer({ schema, records: [] }));
    expect(empty.records).toEqual([]);
    const w = new AvroWriter();
    expect(() => w.int(2 ** 31)).toThrow(/32-bit/);
    expect(() => w.long(2 ** 53)).toThrow(/safe integer/);
    expect(() => w.long(2n ** 63n)).toThrow(/64-bit/);
    expect(() => writeAvroContainer({ schema, records: [{ ...records[0], opt: "x" }] })).toThrow(
      /record\[0\]\.opt/,
    );
    expect(() =>
      writeAvroContainer({ schema, records: [], metadata: { "avro.codec": "deflate" } }),
    ).toThrow(/reserved/);
  });

  it("uses no code generation (workerd forbids it)", async () => {
    const { readFile } = await import("node:fs/promises");
    for (const f of ["avro.ts", "manifest.ts", "data-file.ts", "metadata.ts", "index.ts"]) {
      const src = await readFile(new URL(`../../shared/iceberg/${f}`, import.meta.url), "utf8");
      expect(src, f).not.toMatch(/new Function\(|\beval\(|WebAssembly\.(compile|instantiate)\(/);
    }
  });
});

// ---------------------------------------------------------------------------------------------

const ENTRY_IDS = {
  status: 0,
  snapshot_id: 1,
  sequence_number: 3,
  file_sequence_number: 4,
  data_file: 2,
  "data_file.content": 134,
  "data_file.file_path": 100,
  "data_file.file_format": 101,
  "data_file.partition": 102,
  "data_file.record_count": 103,
  "data_file.file_size_in_bytes": 104,
  "data_file.column_sizes": 108,
  "data_file.column_sizes[].key": 117,
  "data_file.column_sizes[].value": 118,
  "data_file.value_counts": 109,
  "data_file.value_counts[].key": 119,
  "data_file.value_counts[].value": 120,
  "data_file.null_value_counts": 110,
  "data_file.null_value_counts[].key": 121,
  "data_file.null_value_counts[].value": 122,
  "data_file.nan_value_counts": 137,
  "data_file.nan_value_counts[].key": 138,
  "data_file.nan_value_counts[].value": 139,
  "data_file.lower_bounds": 125,
  "data_file.lower_bounds[].key": 126,
  "data_file.lower_bounds[].value": 127,
  "data_file.upper_bounds": 128,
  "data_file.upper_bounds[].key": 129,
  "data_file.upper_bounds[].value": 130,
  "data_file.split_offsets": 132,
  "data_file.split_offsets[]": 133,
  "data_file.sort_order_id": 140,
};
const LIST_IDS = {
  manifest_path: 500,
  manifest_length: 501,
  partition_spec_id: 502,
  content: 517,
  sequence_number: 515,
  min_sequence_number: 516,
  added_snapshot_id: 503,
  added_files_count: 504,
  existing_files_count: 505,
  deleted_files_count: 506,
  added_rows_count: 512,
  existing_rows_count: 513,
  deleted_rows_count: 514,
  partitions: 507,
  "partitions[]": 508,
  "partitions[].contains_null": 509,
  "partitions[].contains_nan": 518,
  "partitions[].lower_bound": 510,
  "partitions[].upper_bound": 511,
};

const big = (v: number | bigint | null | undefined) =>
  v === null || v === undefined ? null : BigInt(v);
const kv = (m: Record<number, number | bigint | Uint8Array> | null | undefined) =>
  m
    ? Object.keys(m)
        .map(Number)
        .sort((a, b) => a - b)
        .map((key) => ({
          key,
          value: m[key] instanceof Uint8Array ? m[key] : BigInt(m[key] as number),
        }))
    : null;

/** What avsc must decode for an entry (Avro longs as bigints, maps as key/value arrays). */
function expectedEntry(e: ManifestEntry) {
  const df = e.dataFile;
  return {
    status: e.status,
    snapshot_id: big(e.snapshotId),
    sequence_number: big(e.sequenceNumber),
    file_sequence_number: big(e.fileSequenceNumber),
    data_file: {
      content: 0,
      file_path: df.file_path,
      file_format: "PARQUET",
      partition: {},
      record_count: BigInt(df.record_count),
      file_size_in_bytes: BigInt(df.file_size_in_bytes),
      column_sizes: kv(df.column_sizes),
      value_counts: kv(df.value_counts),
      null_value_counts: kv(df.null_value_counts),
      nan_value_counts: kv(df.nan_value_counts),
      lower_bounds: kv(df.lower_bounds),
      upper_bounds: kv(df.upper_bounds),
      split_offsets: df.split_offsets ? df.split_offsets.map((o) => BigInt(o)) : null,
      sort_order_id: df.sort_order_id ?? null,
    },
  };
}

describe("manifests and manifest lists, decoded by avsc", () => {
  it("writes the spec's manifest metadata, field ids and every entry field (EXISTING, ADDED and DELETED mixed)", async () => {
    for (const m of ["m1", "m2", "m3"]) {
      const file = await avscDecode(avroFiles[m]!);
      expect(file.codec).toBe("null");
      expect(file.meta).toEqual({
        schema: JSON.stringify(icebergSchema(FIELDS)),
        "schema-id": "0",
        "partition-spec": "[]",
        "partition-spec-id": "0",
        "format-version": "2",
        content: "data",
      });
      expect(JSON.parse(file.meta.schema!)).toEqual({
        type: "struct",
        "schema-id": 0,
        fields: [
          { id: 1, name: "id", required: false, type: "long" },
          { id: 2, name: "score", required: false, type: "double" },
          { id: 3, name: "ok", required: false, type: "boolean" },
          { id: 4, name: "at", required: false, type: "timestamptz" },
          { id: 5, name: "name", required: false, type: "string" },
        ],
      });
      expect(file.schemaJson.name).toBe("manifest_entry");
      expect(fieldIds(file.schemaJson)).toEqual(ENTRY_IDS);
      // Maps with int keys: arrays of key/value records with logicalType "map".
      const lower = file.schemaJson.fields[4].type.fields.find(
        (f: any) => f.name === "lower_bounds",
      );
      expect(lower.type[0]).toBe("null");
      expect(lower.type[1]).toMatchObject({
        type: "array",
        logicalType: "map",
        items: { type: "record", name: "k126_v127" },
      });
      expect(file.records.map(plain)).toEqual(entries[m]!.map(expectedEntry));
    }
    const m3 = (await avscDecode(avroFiles.m3!)).records.map(plain);
    expect(m3.map((r) => r.status)).toEqual([2, 0, 1]);
  });

  it("writes manifest lists with the spec's field ids, counts and sequence numbers", async () => {
    const want = {
      l1: [{ path: "m1.avro", seq: 1n, min: 1n, snap: 1n, files: [1, 0, 0], rows: [5n, 0n, 0n] }],
      l2: [
        { path: "m1.avro", seq: 1n, min: 1n, snap: 1n, files: [1, 0, 0], rows: [5n, 0n, 0n] },
        { path: "m2.avro", seq: 2n, min: 2n, snap: 2n, files: [1, 0, 0], rows: [3n, 0n, 0n] },
      ],
      l3: [{ path: "m3.avro", seq: 3n, min: 2n, snap: 3n, files: [1, 1, 1], rows: [2n, 3n, 5n] }],
    };
    for (const n of [1, 2, 3]) {
      const file = await avscDecode(avroFiles[`l${n}`]!);
      expect(file.meta).toEqual({
        "snapshot-id": String(n),
        "parent-snapshot-id": n === 1 ? "null" : String(n - 1),
        "sequence-number": String(n),
        "format-version": "2",
      });
      expect(file.schemaJson.name).toBe("manifest_file");
      expect(fieldIds(file.schemaJson)).toEqual(LIST_IDS);
      expect(file.records.map(plain)).toEqual(
        want[`l${n}` as keyof typeof want].map((w) => ({
          manifest_path: s3(`${TABLE_KEY}/metadata/${w.path}`),
          manifest_length: BigInt(avroFiles[w.path.replace(".avro", "")]!.length),
          partition_spec_id: 0,
          content: 0,
          sequence_number: w.seq,
          min_sequence_number: w.min,
          added_snapshot_id: w.snap,
          added_files_count: w.files[0],
          existing_files_count: w.files[1],
          deleted_files_count: w.files[2],
          added_rows_count: w.rows[0],
          existing_rows_count: w.rows[1],
          deleted_rows_count: w.rows[2],
          partitions: [],
        })),
      );
    }
  });

  it("refuses entries the spec does not allow", () => {
    const df = dataFiles.A;
    expect(() =>
      writeManifest({
        entries: [
          { status: 0, snapshotId: 1, sequenceNumber: null, fileSequenceNumber: 1, dataFile: df },
        ],
        schema: FIELDS,
      }),
    ).toThrow(/sequenceNumber is required for an EXISTING entry/);
    expect(() =>
      writeManifest({
        entries: [
          { status: 2, snapshotId: null, sequenceNumber: 1, fileSequenceNumber: 1, dataFile: df },
        ],
        schema: FIELDS,
      }),
    ).toThrow(/snapshotId is required for a?n? ?DELETED/);
    expect(() =>
      writeManifest({
        entries: [{ status: 1, dataFile: { ...df, content: 1 as 0 } }],
        schema: FIELDS,
      }),
    ).toThrow(/content/);
    expect(() => writeManifest({ entries: [], schemaJson: undefined })).toThrow(
      /schemaJson or schema/,
    );
    expect(() =>
      writeManifestList({
        manifests: [{ ...lists.l3![0]!, sequence_number: 4 }],
        snapshotId: 3,
        parentSnapshotId: 2,
        sequenceNumber: 3,
      }),
    ).toThrow(/after the snapshot/);
  });

  it("fills the snapshot id of ADDED entries from writeManifest's snapshotId", async () => {
    const bytes = writeManifest({
      entries: [{ status: 1, dataFile: dataFiles.C }],
      schema: FIELDS,
      snapshotId: 7,
    });
    const [r] = (await avscDecode(bytes)).records.map(plain);
    expect(r.snapshot_id).toBe(7n);
    expect(r.sequence_number).toBeNull();
  });

  it("keeps a DataFile through JSON (encodeDataFile / decodeDataFile)", async () => {
    for (const df of Object.values(dataFiles)) {
      const back = decodeDataFile(JSON.parse(JSON.stringify(encodeDataFile(df))));
      expect(back).toEqual(df);
      const a = (
        await avscDecode(
          writeManifest({
            entries: [{ status: 1, dataFile: back }],
            schema: FIELDS,
            syncMarker: SYNC,
          }),
        )
      ).records.map(plain);
      const b = (
        await avscDecode(
          writeManifest({
            entries: [{ status: 1, dataFile: df }],
            schema: FIELDS,
            syncMarker: SYNC,
          }),
        )
      ).records.map(plain);
      expect(a).toEqual(b);
    }
    expect(() => decodeDataFile({ nope: 1 })).toThrow(/encoded data file/);
  });
});

// ---------------------------------------------------------------------------------------------

describe("data files from Parquet footers: metrics and bounds", () => {
  const le64 = (b: Uint8Array) => Buffer.from(b).readBigInt64LE(0);
  const f64 = (b: Uint8Array) => Buffer.from(b).readDoubleLE(0);
  const str = (b: Uint8Array) => Buffer.from(b).toString("utf8");

  it("sums counts and sizes over row groups by field id", () => {
    const a = dataFiles.A;
    expect(a.record_count).toBe(5);
    expect(a.file_size_in_bytes).toBe(files.A!.length);
    expect(a.value_counts).toEqual({ 1: 5, 2: 5, 3: 5, 4: 5, 5: 5 });
    expect(a.null_value_counts).toEqual({ 1: 0, 2: 1, 3: 1, 4: 1, 5: 1 });
    const footer = footers.A;
    expect(footer.row_groups).toHaveLength(2);
    for (let c = 0; c < 5; c++) {
      const total = footer.row_groups.reduce(
        (s, rg) => s + Number(rg.columns[c]!.meta_data!.total_compressed_size),
        0,
      );
      expect(a.column_sizes![c + 1]).toBe(total);
    }
    expect(a.split_offsets).toEqual(
      footer.row_groups.map((rg) =>
        Number(
          rg.columns[0]!.meta_data!.dictionary_page_offset ??
            rg.columns[0]!.meta_data!.data_page_offset,
        ),
      ),
    );
    expect(a.split_offsets![0]).toBe(4); // after the "PAR1" magic
    expect(dataFiles.C.null_value_counts).toEqual({ 1: 0, 2: 1, 3: 2, 4: 1, 5: 0 });
  });

  it("writes bounds in Iceberg's binary serialization (timestamps in microseconds)", () => {
    const { lower_bounds: lo, upper_bounds: hi } = dataFiles.A;
    expect(le64(lo![1]!)).toBe(1n);
    expect(le64(hi![1]!)).toBe(5n);
    expect(f64(lo![2]!)).toBe(-2.25);
    expect(f64(hi![2]!)).toBe(10);
    expect([...lo![3]!]).toEqual([0]);
    expect([...hi![3]!]).toEqual([1]);
    expect(le64(lo![4]!)).toBe(1600000000999999n); // exact microseconds
    expect(le64(hi![4]!)).toBe(1700000000500000n);
    expect(str(lo![5]!)).toBe("alice");
    expect(str(hi![5]!)).toBe("zoë");
    expect(hi![5]!).toEqual(new TextEncoder().encode("zoë"));
    // decodeBound agrees
    expect(decodeBound("timestamp", lo![4]!)).toBe(1600000000999999n);
    expect(decodeBound("bool", lo![3]!)).toBe(false);
    expect(decodeBound("string", lo![5]!)).toBe("alice");
  });

  it("converts MILLIS files to microseconds, orders -0.0 before +0.0, keeps truncated string bounds valid", () => {
    const { lower_bounds: lo, upper_bounds: hi } = dataFiles.B;
    expect(le64(lo![4]!)).toBe(1500000000001000n);
    expect(le64(hi![4]!)).toBe(1500000000003000n);
    expect(Object.is(f64(lo![2]!), -0)).toBe(true);
    expect(Object.is(f64(hi![2]!), 0)).toBe(true);
    expect([...lo![3]!]).toEqual([0]);
    expect([...hi![3]!]).toEqual([0]);
    // hyparquet-writer cuts string statistics to 16 bytes by default: the max is rounded up.
    expect(footers.B.row_groups[0]!.columns[4]!.meta_data!.statistics!.is_max_value_exact).toBe(
      false,
    );
    expect(str(lo![5]!)).toBe("carol");
    const upper = str(hi![5]!);
    expect(upper).not.toBe(LONG_NAME);
    expect(Buffer.compare(Buffer.from(upper), Buffer.from(LONG_NAME))).toBeGreaterThan(0);
    expect(upper.length).toBeLessThanOrEqual(16);
  });

  it("omits bounds it cannot state: all-null columns, strings over 64 bytes", () => {
    const { lower_bounds: lo, upper_bounds: hi } = dataFiles.C;
    expect(lo![3]).toBeUndefined(); // ok: only nulls
    expect(hi![3]).toBeUndefined();
    expect(str(lo![5]!)).toBe("a");
    expect(hi![5]).toBeUndefined(); // the 65-byte max
    expect(le64(lo![4]!)).toBe(1800000000000000n);
    expect(f64(hi![2]!)).toBe(100.25);
    // a 64-byte max is kept
    const f = parquet(
      { ...C, name: ["x".repeat(64), "a"] },
      { unit: "MICROS", fieldIds: true, truncate: Infinity },
    );
    const df = dataFileFromParquet(parquetMetadata(toAb(f)), {
      path: "s3://b/k",
      fileSize: f.length,
      schema: FIELDS,
    });
    expect(str(df.upper_bounds![5]!)).toBe("x".repeat(64));
  });

  it("widens MICROS bounds parsed with hyparquet's default parsers (Dates cut to milliseconds) instead of narrowing them", () => {
    const df = dataFileFromParquet(parquetMetadata(toAb(files.A!)), {
      path: "s3://b/k",
      fileSize: files.A!.length,
      schema: FIELDS,
    });
    const lo = le64(df.lower_bounds![4]!);
    const hi = le64(df.upper_bounds![4]!);
    expect(lo).toBeLessThanOrEqual(1600000000999999n);
    expect(lo).toBeGreaterThan(1600000000999999n - 1000n);
    expect(hi).toBeGreaterThanOrEqual(1700000000500000n);
    expect(hi).toBeLessThan(1700000000500000n + 1000n);
    // pre-1970 values too
    const old = parquet(
      { id: [1n], score: [1], ok: [true], at: [-1500n], name: ["a"] },
      { unit: "MICROS", fieldIds: false },
    );
    const o = dataFileFromParquet(parquetMetadata(toAb(old)), {
      path: "s3://b/k",
      fileSize: old.length,
      schema: FIELDS,
    });
    expect(le64(o.lower_bounds![4]!)).toBeLessThanOrEqual(-1500n);
    expect(le64(o.upper_bounds![4]!)).toBeGreaterThanOrEqual(-1500n);
    const exact = dataFileFromParquet(
      parquetMetadata(toAb(old), { parsers: PARQUET_STATS_PARSERS }),
      { path: "s3://b/k", fileSize: old.length, schema: FIELDS },
    );
    expect(le64(exact.lower_bounds![4]!)).toBe(-1500n);
    expect(le64(exact.upper_bounds![4]!)).toBe(-1500n);
  });

  it("refuses a file whose column types or field ids disagree with the table", () => {
    const wrong: SchemaField[] = FIELDS.map((f) =>
      f.name === "score" ? { ...f, type: "int64" } : f,
    );
    expect(() =>
      dataFileFromParquet(footers.A, { path: "s3://b/a", fileSize: 1, schema: wrong }),
    ).toThrow(/"score" \(DOUBLE\) cannot be read as int64/);
    const swapped = [FIELDS[1]!, FIELDS[0]!, ...FIELDS.slice(2)];
    expect(() =>
      dataFileFromParquet(footers.A, { path: "s3://b/a", fileSize: 1, schema: swapped }),
    ).toThrow(/field_id is 2, the table's field id is 1/);
    // without field ids in the file, names decide
    const df = dataFileFromParquet(footers.B, { path: "s3://b/b", fileSize: 1, schema: swapped });
    expect(df.value_counts).toEqual({ 1: 3, 2: 3, 3: 3, 4: 3, 5: 3 });
    expect(le64(df.lower_bounds![2]!)).toBe(6n); // id is field 2 here
    // a schema column the file lacks gets no metrics
    const extra = dataFileFromParquet(footers.B, {
      path: "s3://b/b",
      fileSize: 1,
      schema: [...FIELDS, { name: "later", type: "string", nullable: true }],
    });
    expect(extra.value_counts![6]).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------

describe("table metadata", () => {
  it("has every v2 field, the snapshot chain, logs, refs and the name mapping", () => {
    const m = metadata.v3!;
    expect(Object.keys(m).sort()).toEqual(
      [
        "format-version",
        "table-uuid",
        "location",
        "last-sequence-number",
        "last-updated-ms",
        "last-column-id",
        "schemas",
        "current-schema-id",
        "partition-specs",
        "default-spec-id",
        "last-partition-id",
        "sort-orders",
        "default-sort-order-id",
        "properties",
        "current-snapshot-id",
        "snapshots",
        "snapshot-log",
        "metadata-log",
        "refs",
      ].sort(),
    );
    expect(m).toMatchObject({
      "format-version": 2,
      location: TABLE,
      "last-sequence-number": 3,
      "last-column-id": 5,
      "current-schema-id": 0,
      "partition-specs": [{ "spec-id": 0, fields: [] }],
      "default-spec-id": 0,
      "last-partition-id": 999,
      "sort-orders": [{ "order-id": 0, fields: [] }],
      "default-sort-order-id": 0,
      "current-snapshot-id": 3,
      refs: { main: { "snapshot-id": 3, type: "branch" } },
    });
    expect(m.schemas).toEqual([icebergSchema(FIELDS)]);
    expect(JSON.parse(m.properties["schema.name-mapping.default"]!)).toEqual(nameMapping(FIELDS));
    expect(nameMapping(FIELDS)[3]).toEqual({ "field-id": 4, names: ["at"] });
    expect(m.properties["lakehouse.dataset"]).toBe("people");
    expect(
      m.snapshots.map((s) => [s["snapshot-id"], s["parent-snapshot-id"], s["sequence-number"]]),
    ).toEqual([
      [1, undefined, 1],
      [2, 1, 2],
      [3, 2, 3],
    ]);
    expect(m["snapshot-log"].map((s) => s["snapshot-id"])).toEqual([1, 2, 3]);
    expect(m["metadata-log"].map((s) => s["metadata-file"])).toEqual([
      s3(`${TABLE_KEY}/metadata/v1.metadata.json`),
      s3(`${TABLE_KEY}/metadata/v2.metadata.json`),
    ]);
    expect(m.snapshots[2]!.summary).toEqual({
      operation: "overwrite",
      "added-data-files": "1",
      "deleted-data-files": "1",
      "added-records": "2",
      "deleted-records": "5",
      "added-files-size": String(files.C!.length),
      "removed-files-size": String(files.A!.length),
      "changed-partition-count": "1",
      "total-records": "5",
      "total-files-size": String(files.B!.length + files.C!.length),
      "total-data-files": "2",
      "total-delete-files": "0",
      "total-position-deletes": "0",
      "total-equality-deletes": "0",
    });
    expect(m.snapshots[0]!.summary).toMatchObject({
      operation: "append",
      "added-data-files": "1",
      "total-records": "5",
    });
    expect(m.snapshots[0]!.summary["deleted-data-files"]).toBeUndefined();
  });

  it("describes an empty table and checks the snapshot graph", () => {
    const empty = tableMetadata({
      tableUuid: "3f0c7a52-1b6e-4d0a-9c55-2f3e4d5a6b7c",
      location: `${TABLE}/`,
      fields: FIELDS,
      snapshots: [],
      lastUpdatedMs: 1,
    });
    expect(empty["current-snapshot-id"]).toBe(-1);
    expect(empty.refs).toEqual({});
    expect(empty["snapshot-log"]).toEqual([]);
    expect(empty["last-sequence-number"]).toBe(0);
    expect(empty.location).toBe(TABLE);
    const base = {
      tableUuid: "3f0c7a52-1b6e-4d0a-9c55-2f3e4d5a6b7c",
      location: TABLE,
      fields: FIELDS,
      lastUpdatedMs: 1,
    };
    const s = (
      id: number,
      parent: number | null,
      seq = id,
      operation = "append",
    ): SnapshotInput => ({
      snapshotId: id,
      parentSnapshotId: parent,
      sequenceNumber: seq,
      timestampMs: id,
      manifestList: "s3://b/l",
      summary: { operation },
    });
    expect(() => tableMetadata({ ...base, snapshots: [s(1, null)], currentSnapshotId: 2 })).toThrow(
      /current snapshot 2/,
    );
    expect(() =>
      tableMetadata({ ...base, snapshots: [s(1, null), s(1, null)], currentSnapshotId: 1 }),
    ).toThrow(/duplicate snapshot/);
    expect(() =>
      tableMetadata({ ...base, snapshots: [s(1, null, 5), s(2, 1, 4)], currentSnapshotId: 2 }),
    ).toThrow(/not after its parent/);
    expect(() =>
      tableMetadata({ ...base, snapshots: [s(1, null, 1, "merge")], currentSnapshotId: 1 }),
    ).toThrow(/operation must be one of/);
    expect(() => tableMetadata({ ...base, tableUuid: "nope", snapshots: [] })).toThrow(/UUID/);
    expect(() => icebergSchema([...FIELDS, FIELDS[0]!])).toThrow(/duplicate column/);
    // expired parents: the log starts at the oldest kept ancestor
    const kept = tableMetadata({ ...base, snapshots: [s(4, 3), s(5, 4)], currentSnapshotId: 5 });
    expect(kept["snapshot-log"].map((x) => x["snapshot-id"])).toEqual([4, 5]);
    expect(kept.snapshots[0]!["parent-snapshot-id"]).toBe(3);
  });
});

// ---------------------------------------------------------------------------------------------

describe("the table read by icebird (an independent Iceberg reader) over HTTP", () => {
  let server: Awaited<ReturnType<typeof serveDir>>;
  beforeAll(async () => {
    server = await serveDir(root);
    vi.stubGlobal("fetch", s3Fetch(server.base, globalThis.fetch));
  });
  afterAll(async () => {
    vi.unstubAllGlobals();
    await new Promise((r) => server?.server.close(r));
  });

  /** The rows as icebird returns them: longs as bigints, timestamps as Dates (ms). */
  const rows = (c: Cols) =>
    c.id.map((id, i) => ({
      id,
      score: c.score[i],
      ok: c.ok[i],
      at: c.at[i] === null ? null : new Date(Number(c === B ? c.at[i]! : c.at[i]! / 1000n)),
      name: c.name[i],
    }));
  const norm = (rs: Record<string, unknown>[]) =>
    rs.map((r) => ({
      ...r,
      score: r.score ?? null,
      ok: r.ok ?? null,
      at: r.at ?? null,
      name: r.name ?? null,
    }));

  it("reads the current snapshot of an overwrite (DELETED, EXISTING, ADDED in one manifest)", async () => {
    const got = await icebergRead({ tableUrl: TABLE, metadataFileName: "v3.metadata.json" });
    expect(norm(got)).toEqual([...rows(B), ...rows(C)]);
    // icebird went through our s3:// locations, translated to the bucket's host
    expect(
      server.requests.some((r) => r.startsWith(`GET /${BUCKET}/${TABLE_KEY}/metadata/snap-3.avro`)),
    ).toBe(true);
    expect(server.requests.some((r) => r.startsWith(`GET /${BUCKET}/${KEYS.C}`))).toBe(true);
  });

  it("reads an append snapshot listing two manifests (one inheriting every sequence number)", async () => {
    const got = await icebergRead({ tableUrl: TABLE, metadataFileName: "v2.metadata.json" });
    expect(norm(got)).toEqual([...rows(A), ...rows(B)]);
  });

  it("travels back in time: an older snapshot from the newest metadata, and the first metadata file", async () => {
    const m3 = metadata.v3!;
    const at1 = await icebergRead({
      tableUrl: TABLE,
      metadata: { ...m3, "current-snapshot-id": 1 } as any,
    });
    expect(norm(at1)).toEqual(rows(A));
    const at2 = await icebergRead({
      tableUrl: TABLE,
      metadata: { ...m3, "current-snapshot-id": 2 } as any,
    });
    expect(norm(at2)).toEqual([...rows(A), ...rows(B)]);
    const v1 = await icebergRead({ tableUrl: TABLE, metadataFileName: "v1.metadata.json" });
    expect(norm(v1)).toEqual(rows(A));
  });

  it("reads row ranges across files", async () => {
    const got = await icebergRead({
      tableUrl: TABLE,
      metadataFileName: "v2.metadata.json",
      rowStart: 4,
      rowEnd: 7,
    });
    expect(norm(got)).toEqual([...rows(A), ...rows(B)].slice(4, 7));
  });
});

describe("date columns (Iceberg `date`: 4-byte little-endian days)", () => {
  it("maps date to Iceberg date, and bounds a Parquet DATE column written by ingest in days", async () => {
    const fields: SchemaField[] = [
      { name: "id", type: "int64", nullable: false },
      { name: "day", type: "date", nullable: true },
    ];
    expect(icebergSchema(fields).fields[1]).toEqual({
      id: 2,
      name: "day",
      required: false,
      type: "date",
    });
    const dir = await mkdtemp(join(tmpdir(), "iceberg-date-"));
    try {
      const csv = join(dir, "days.csv");
      await writeFile(csv, "id,day\n1,2024-01-31\n2,\n3,1969-12-31\n4,1900-03-01\n");
      const { parquet, outcome } = await convertFile(csv);
      expect(outcome.schema).toEqual(fields);
      const le32 = (b: Uint8Array) => Buffer.from(b).readInt32LE(0);
      // With the stats parsers (days as numbers) and with hyparquet's defaults (Dates): the same bounds.
      for (const parsers of [PARQUET_STATS_PARSERS, undefined]) {
        const df = dataFileFromParquet(parquetMetadata(toAb(parquet), parsers ? { parsers } : {}), {
          path: "s3://b/k",
          fileSize: parquet.length,
          schema: fields,
        });
        expect(df.lower_bounds![2]!.length).toBe(4);
        expect(le32(df.lower_bounds![2]!)).toBe(Date.UTC(1900, 2, 1) / 86_400_000);
        expect(le32(df.upper_bounds![2]!)).toBe(Date.UTC(2024, 0, 31) / 86_400_000);
        expect(decodeBound("date", df.upper_bounds![2]!)).toBe(19753);
        expect(df.null_value_counts).toEqual({ 1: 0, 2: 1 });
      }
      // A date column is not an int64 column, nor a date column an int64 file.
      expect(() =>
        dataFileFromParquet(parquetMetadata(toAb(parquet)), {
          path: "s3://b/k",
          fileSize: parquet.length,
          schema: [fields[0]!, { name: "day", type: "int64", nullable: true }],
        }),
      ).toThrow(/expected INT64/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
