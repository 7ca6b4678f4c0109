// Iceberg format-v2 manifests and manifest lists (Iceberg table spec, "Manifests" and
// "Manifest Lists"), written as Avro container files with the spec's field ids. Records are
// spelled with the spec's snake_case field names; longs may be numbers or bigints.
import type { SchemaField } from "../types";
import { type AvroField, type AvroRecord, type AvroSchema, writeAvroContainer } from "./avro";
import { icebergSchema } from "./metadata";

export type Long = number | bigint;

/** Manifest entry status (field 0). A manifest may mix all three. */
export const ManifestEntryStatus = { EXISTING: 0, ADDED: 1, DELETED: 2 } as const;
export type ManifestEntryStatus = (typeof ManifestEntryStatus)[keyof typeof ManifestEntryStatus];

/** Column-id keyed metrics, e.g. `{ 1: 120, 2: 118 }`. */
export type ColumnMetric = Record<number, Long>;
/** Column-id keyed bounds in Iceberg's single-value binary serialization. */
export type ColumnBounds = Record<number, Uint8Array>;

/** The `data_file` struct (field 2) of a data (content 0) file. */
export interface DataFile {
  /** 0 = data (the only content this writer accepts). */
  content?: 0;
  /** Full URI with FS scheme, e.g. `s3://lakehouse-lake/datasets/people/x.parquet`. */
  file_path: string;
  /** Default "PARQUET". */
  file_format?: string;
  record_count: Long;
  file_size_in_bytes: Long;
  column_sizes?: ColumnMetric | null;
  value_counts?: ColumnMetric | null;
  null_value_counts?: ColumnMetric | null;
  nan_value_counts?: ColumnMetric | null;
  lower_bounds?: ColumnBounds | null;
  upper_bounds?: ColumnBounds | null;
  /** Row-group start offsets, ascending. */
  split_offsets?: Long[] | null;
  sort_order_id?: number | null;
}

/**
 * A `manifest_entry` (Avro fields status, snapshot_id, sequence_number, file_sequence_number,
 * data_file). `snapshotId`, `sequenceNumber` and `fileSequenceNumber` may be null (inherited from
 * the manifest list) only for ADDED entries; EXISTING and DELETED entries must carry the values
 * the file was added with (spec: "Sequence Number Inheritance"); a DELETED entry's snapshotId is
 * the snapshot that deletes the file.
 */
export interface ManifestEntry {
  status: ManifestEntryStatus;
  snapshotId?: Long | null;
  sequenceNumber?: Long | null;
  fileSequenceNumber?: Long | null;
  dataFile: DataFile;
}

/** `field_summary` (field 508) of a manifest list entry: one per partition field. */
export interface FieldSummary {
  contains_null: boolean;
  contains_nan?: boolean | null;
  lower_bound?: Uint8Array | null;
  upper_bound?: Uint8Array | null;
}

/** A `manifest_file` record of a manifest list (v2: every count is required). JSON-safe when its longs are numbers. */
export interface ManifestListEntry {
  manifest_path: string;
  manifest_length: Long;
  partition_spec_id: number;
  /** 0 = data, 1 = deletes. */
  content: 0 | 1;
  sequence_number: Long;
  min_sequence_number: Long;
  added_snapshot_id: Long;
  added_files_count: number;
  existing_files_count: number;
  deleted_files_count: number;
  added_rows_count: Long;
  existing_rows_count: Long;
  deleted_rows_count: Long;
  /** Empty for an unpartitioned spec (the default); null omits the summaries. */
  partitions?: FieldSummary[] | null;
}

// ---- Avro schemas (field ids and record names as the spec and the Java reference write them)

const optional = (name: string, type: AvroSchema, fieldId: number, doc?: string): AvroField => ({
  name,
  type: ["null", type],
  default: null,
  "field-id": fieldId,
  ...(doc ? { doc } : {}),
});
const required = (name: string, type: AvroSchema, fieldId: number, doc?: string): AvroField => ({
  name,
  type,
  "field-id": fieldId,
  ...(doc ? { doc } : {}),
});
/** An Iceberg map<int, V> as Avro: an array of key/value records with logicalType "map". */
const intMap = (keyId: number, valueId: number, value: AvroSchema): AvroSchema => ({
  type: "array",
  logicalType: "map",
  items: {
    type: "record",
    name: `k${keyId}_v${valueId}`,
    fields: [
      { name: "key", type: "int", "field-id": keyId },
      { name: "value", type: value, "field-id": valueId },
    ],
  },
});
const list = (elementId: number, items: AvroSchema): AvroSchema => ({
  type: "array",
  items,
  "element-id": elementId,
});

/** The v2 `data_file` struct for an unpartitioned spec (partition is an empty struct). */
export const DATA_FILE_SCHEMA: AvroRecord = {
  type: "record",
  name: "r2",
  fields: [
    required(
      "content",
      "int",
      134,
      "Contents of the file: 0=data, 1=position deletes, 2=equality deletes",
    ),
    required("file_path", "string", 100, "Location URI with FS scheme"),
    required("file_format", "string", 101, "File format name: avro, orc, or parquet"),
    required(
      "partition",
      { type: "record", name: "r102", fields: [] },
      102,
      "Partition data tuple, schema based on the partition spec",
    ),
    required("record_count", "long", 103, "Number of records in the file"),
    required("file_size_in_bytes", "long", 104, "Total file size in bytes"),
    optional(
      "column_sizes",
      intMap(117, 118, "long"),
      108,
      "Map of column id to total size on disk",
    ),
    optional(
      "value_counts",
      intMap(119, 120, "long"),
      109,
      "Map of column id to total count, including null and NaN",
    ),
    optional(
      "null_value_counts",
      intMap(121, 122, "long"),
      110,
      "Map of column id to null value count",
    ),
    optional(
      "nan_value_counts",
      intMap(138, 139, "long"),
      137,
      "Map of column id to number of NaN values in the column",
    ),
    optional("lower_bounds", intMap(126, 127, "bytes"), 125, "Map of column id to lower bound"),
    optional("upper_bounds", intMap(129, 130, "bytes"), 128, "Map of column id to upper bound"),
    optional("split_offsets", list(133, "long"), 132, "Splittable offsets"),
    optional("sort_order_id", "int", 140, "Sort order ID"),
  ],
};

/** The v2 `manifest_entry` schema. */
export const MANIFEST_ENTRY_SCHEMA: AvroRecord = {
  type: "record",
  name: "manifest_entry",
  fields: [
    required("status", "int", 0),
    optional("snapshot_id", "long", 1),
    optional("sequence_number", "long", 3),
    optional("file_sequence_number", "long", 4),
    required("data_file", DATA_FILE_SCHEMA, 2),
  ],
};

/** The v2 `manifest_file` schema (manifest list entries). */
export const MANIFEST_FILE_SCHEMA: AvroRecord = {
  type: "record",
  name: "manifest_file",
  fields: [
    required("manifest_path", "string", 500, "Location URI with FS scheme"),
    required("manifest_length", "long", 501, "Total file size in bytes"),
    required("partition_spec_id", "int", 502, "Spec ID used to write"),
    required("content", "int", 517, "Contents of the manifest: 0=data, 1=deletes"),
    required("sequence_number", "long", 515, "Sequence number when the manifest was added"),
    required("min_sequence_number", "long", 516, "Lowest sequence number in the manifest"),
    required("added_snapshot_id", "long", 503, "Snapshot ID that added the manifest"),
    required("added_files_count", "int", 504, "Added entry count"),
    required("existing_files_count", "int", 505, "Existing entry count"),
    required("deleted_files_count", "int", 506, "Deleted entry count"),
    required("added_rows_count", "long", 512, "Added rows count"),
    required("existing_rows_count", "long", 513, "Existing rows count"),
    required("deleted_rows_count", "long", 514, "Deleted rows count"),
    optional(
      "partitions",
      list(508, {
        type: "record",
        name: "r508",
        fields: [
          required("contains_null", "boolean", 509, "True if any file has a null partition value"),
          optional("contains_nan", "boolean", 518, "True if any file has a nan partition value"),
          optional("lower_bound", "bytes", 510, "Partition lower bound for all files"),
          optional("upper_bound", "bytes", 511, "Partition upper bound for all files"),
        ],
      }),
      507,
      "Summary for each partition",
    ),
  ],
};

// ---- conversion to Avro records

function fieldIdKeys(map: Record<number, unknown>, what: string): number[] {
  return Object.keys(map)
    .map((k) => {
      const id = Number(k);
      if (!Number.isInteger(id) || id < 0 || id > 2 ** 31 - 1)
        throw new RangeError(`iceberg: ${what}: ${JSON.stringify(k)} is not a field id`);
      return id;
    })
    .sort((a, b) => a - b);
}

function mapRecords<V>(
  map: Record<number, V> | null | undefined,
  what: string,
): { key: number; value: V }[] | null {
  if (map === null || map === undefined) return null;
  return fieldIdKeys(map, what).map((key) => ({ key, value: map[key]! }));
}

function avroDataFile(df: DataFile, where: string): Record<string, unknown> {
  if ((df.content ?? 0) !== 0)
    throw new Error(`iceberg: ${where}.content: a data manifest holds data files (content 0)`);
  if (!df.file_path) throw new Error(`iceberg: ${where}.file_path is required`);
  const offsets = df.split_offsets ?? null;
  if (offsets) {
    for (let i = 1; i < offsets.length; i++) {
      if (BigInt(offsets[i]!) < BigInt(offsets[i - 1]!))
        throw new Error(`iceberg: ${where}.split_offsets must be sorted ascending`);
    }
  }
  return {
    content: 0,
    file_path: df.file_path,
    file_format: df.file_format ?? "PARQUET",
    partition: {},
    record_count: df.record_count,
    file_size_in_bytes: df.file_size_in_bytes,
    column_sizes: mapRecords(df.column_sizes, `${where}.column_sizes`),
    value_counts: mapRecords(df.value_counts, `${where}.value_counts`),
    null_value_counts: mapRecords(df.null_value_counts, `${where}.null_value_counts`),
    nan_value_counts: mapRecords(df.nan_value_counts, `${where}.nan_value_counts`),
    lower_bounds: mapRecords(df.lower_bounds, `${where}.lower_bounds`),
    upper_bounds: mapRecords(df.upper_bounds, `${where}.upper_bounds`),
    split_offsets: offsets,
    sort_order_id: df.sort_order_id ?? null,
  };
}

const isSet = (v: Long | null | undefined): v is Long => v !== null && v !== undefined;

function avroEntry(e: ManifestEntry, i: number): Record<string, unknown> {
  const where = `entries[${i}]`;
  if (e.status !== 0 && e.status !== 1 && e.status !== 2)
    throw new Error(`iceberg: ${where}.status must be 0, 1 or 2`);
  if (e.status !== ManifestEntryStatus.ADDED) {
    for (const k of ["snapshotId", "sequenceNumber", "fileSequenceNumber"] as const) {
      if (!isSet(e[k]))
        throw new Error(
          `iceberg: ${where}.${k} is required for an ${e.status === 0 ? "EXISTING" : "DELETED"} entry (only ADDED entries inherit)`,
        );
    }
  }
  return {
    status: e.status,
    snapshot_id: e.snapshotId ?? null,
    sequence_number: e.sequenceNumber ?? null,
    file_sequence_number: e.fileSequenceNumber ?? null,
    data_file: avroDataFile(e.dataFile, `${where}.dataFile`),
  };
}

export interface WriteManifestOptions {
  entries: readonly ManifestEntry[];
  /** The table schema as Iceberg JSON (string or object), e.g. `icebergSchema(fields)`; or give `schema`. */
  schemaJson?: string | object;
  /** Our columns, turned into the Iceberg schema (icebergSchema) when `schemaJson` is absent. */
  schema?: readonly Pick<SchemaField, "name" | "type">[];
  /** The snapshot writing the manifest: ADDED entries without a snapshotId get it (else they inherit). */
  snapshotId?: Long;
  /** Default 0. */
  schemaId?: number;
  /** Default 0 (the unpartitioned spec). */
  partitionSpecId?: number;
  /** The partition fields array as JSON; default "[]" (unpartitioned). */
  partitionSpecJson?: string;
  /** Fixed 16-byte Avro sync marker (tests); random by default. */
  syncMarker?: Uint8Array;
}

/**
 * A data manifest (content "data") as Avro bytes, with the v2 key-value metadata the spec
 * requires: schema, schema-id, partition-spec, partition-spec-id, format-version, content.
 */
export function writeManifest(opts: WriteManifestOptions): Uint8Array {
  const records = opts.entries.map((e, i) =>
    avroEntry(
      e.status === ManifestEntryStatus.ADDED &&
        !isSet(e.snapshotId) &&
        opts.snapshotId !== undefined
        ? { ...e, snapshotId: opts.snapshotId }
        : e,
      i,
    ),
  );
  const schemaJson = opts.schemaJson ?? (opts.schema ? icebergSchema(opts.schema) : undefined);
  if (schemaJson === undefined)
    throw new Error("iceberg: writeManifest needs schemaJson or schema");
  return writeAvroContainer({
    schema: MANIFEST_ENTRY_SCHEMA,
    records,
    syncMarker: opts.syncMarker,
    metadata: {
      schema: typeof schemaJson === "string" ? schemaJson : JSON.stringify(schemaJson),
      "schema-id": String(opts.schemaId ?? 0),
      "partition-spec": opts.partitionSpecJson ?? "[]",
      "partition-spec-id": String(opts.partitionSpecId ?? 0),
      "format-version": "2",
      content: "data",
    },
  });
}

export interface ManifestListEntryOptions {
  /** Where the manifest is stored (`s3://bucket/key`). */
  path: string;
  /** Its size in bytes (the length of writeManifest's output). */
  length: number;
  /** The entries written into it. */
  entries: readonly ManifestEntry[];
  /** The snapshot that adds the manifest (its added_snapshot_id). */
  snapshotId: Long;
  /** That snapshot's sequence number: the manifest's, and the one ADDED entries with null inherit. */
  sequenceNumber: Long;
}

/**
 * The manifest-list record of a manifest written for snapshot `snapshotId`: counts of added,
 * existing and deleted files and rows, and min_sequence_number (the lowest data sequence number
 * of its live entries; the snapshot's own when an ADDED entry inherits or nothing is live).
 * Keep the result: a later snapshot that reuses the manifest lists the same record.
 */
export function manifestListEntry(opts: ManifestListEntryOptions): ManifestListEntry {
  const files = [0, 0, 0];
  const rows = [0n, 0n, 0n];
  let min: bigint | undefined;
  const seq = BigInt(opts.sequenceNumber);
  for (const e of opts.entries) {
    files[e.status]!++;
    rows[e.status]! += BigInt(e.dataFile.record_count);
    if (e.status !== ManifestEntryStatus.DELETED) {
      const s = isSet(e.sequenceNumber) ? BigInt(e.sequenceNumber) : seq;
      if (min === undefined || s < min) min = s;
    }
  }
  const long = (v: bigint): Long => (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
  return {
    manifest_path: opts.path,
    manifest_length: opts.length,
    partition_spec_id: 0,
    content: 0,
    sequence_number: opts.sequenceNumber,
    min_sequence_number: long(min ?? seq),
    added_snapshot_id: opts.snapshotId,
    added_files_count: files[1]!,
    existing_files_count: files[0]!,
    deleted_files_count: files[2]!,
    added_rows_count: long(rows[1]!),
    existing_rows_count: long(rows[0]!),
    deleted_rows_count: long(rows[2]!),
    partitions: [],
  };
}

export interface WriteManifestListOptions {
  manifests: readonly ManifestListEntry[];
  snapshotId: Long;
  /** null for the first snapshot. */
  parentSnapshotId: Long | null;
  sequenceNumber: Long;
  syncMarker?: Uint8Array;
}

/**
 * A manifest list as Avro bytes, with the metadata the Java reference writes (snapshot-id,
 * parent-snapshot-id — "null" when there is none —, sequence-number, format-version "2").
 */
export function writeManifestList(opts: WriteManifestListOptions): Uint8Array {
  const seq = BigInt(opts.sequenceNumber);
  const records = opts.manifests.map((m, i) => {
    const where = `manifests[${i}]`;
    if (BigInt(m.sequence_number) > seq)
      throw new Error(
        `iceberg: ${where}.sequence_number ${m.sequence_number} is after the snapshot's ${seq}`,
      );
    if (BigInt(m.min_sequence_number) > BigInt(m.sequence_number))
      throw new Error(`iceberg: ${where}.min_sequence_number is after its sequence_number`);
    return {
      ...m,
      partitions:
        m.partitions === undefined
          ? []
          : m.partitions === null
            ? null
            : m.partitions.map((p) => ({
                contains_null: p.contains_null,
                contains_nan: p.contains_nan ?? null,
                lower_bound: p.lower_bound ?? null,
                upper_bound: p.upper_bound ?? null,
              })),
    };
  });
  return writeAvroContainer({
    schema: MANIFEST_FILE_SCHEMA,
    records,
    syncMarker: opts.syncMarker,
    metadata: {
      "snapshot-id": String(opts.snapshotId),
      "parent-snapshot-id": opts.parentSnapshotId === null ? "null" : String(opts.parentSnapshotId),
      "sequence-number": String(opts.sequenceNumber),
      "format-version": "2",
    },
  });
}

// ---- JSON form of a DataFile (to keep it, e.g. in Durable Object storage, and write it again
// as an EXISTING or DELETED entry of a later manifest)

/** A DataFile with bounds as lowercase hex and longs as numbers: JSON-safe. */
export interface DataFileJson
  extends Omit<
    DataFile,
    | "lower_bounds"
    | "upper_bounds"
    | "record_count"
    | "file_size_in_bytes"
    | "split_offsets"
    | ColumnMetricKey
  > {
  record_count: number;
  file_size_in_bytes: number;
  column_sizes?: Record<number, number> | null;
  value_counts?: Record<number, number> | null;
  null_value_counts?: Record<number, number> | null;
  nan_value_counts?: Record<number, number> | null;
  lower_bounds?: Record<number, string> | null;
  upper_bounds?: Record<number, string> | null;
  split_offsets?: number[] | null;
}
type ColumnMetricKey = "column_sizes" | "value_counts" | "null_value_counts" | "nan_value_counts";

const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
function fromHex(s: string): Uint8Array {
  if (!/^(?:[0-9a-f]{2})*$/.test(s)) throw new Error(`iceberg: bad hex bound ${JSON.stringify(s)}`);
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}
function num(v: Long): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new RangeError(`iceberg: ${v} is not a safe integer`);
  return n;
}
function mapValues<A, B>(
  m: Record<number, A> | null | undefined,
  f: (a: A) => B,
): Record<number, B> | null | undefined {
  if (m === null || m === undefined) return m;
  const out: Record<number, B> = {};
  for (const id of fieldIdKeys(m, "map")) out[id] = f(m[id]!);
  return out;
}

/** A DataFile as a JSON-safe object (bounds in hex); decodeDataFile reverses it. */
export function encodeDataFile(df: DataFile): DataFileJson {
  return {
    ...df,
    record_count: num(df.record_count),
    file_size_in_bytes: num(df.file_size_in_bytes),
    column_sizes: mapValues(df.column_sizes, num),
    value_counts: mapValues(df.value_counts, num),
    null_value_counts: mapValues(df.null_value_counts, num),
    nan_value_counts: mapValues(df.nan_value_counts, num),
    lower_bounds: mapValues(df.lower_bounds, toHex),
    upper_bounds: mapValues(df.upper_bounds, toHex),
    split_offsets: df.split_offsets ? df.split_offsets.map(num) : df.split_offsets,
  };
}

/** The DataFile of encodeDataFile's output (e.g. after JSON.parse). */
export function decodeDataFile(value: unknown): DataFile {
  const json = value as DataFileJson;
  if (
    typeof json !== "object" ||
    json === null ||
    typeof json.file_path !== "string" ||
    typeof json.record_count !== "number"
  ) {
    throw new Error("iceberg: not an encoded data file");
  }
  return {
    ...json,
    lower_bounds: mapValues(json.lower_bounds, fromHex),
    upper_bounds: mapValues(json.upper_bounds, fromHex),
  };
}
