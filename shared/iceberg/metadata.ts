// Iceberg format-v2 table metadata JSON (spec "Table Metadata", Appendix C), for our fixed
// table shape: one schema (id 0, field id of column i = i + 1, every field optional), one
// unpartitioned spec (id 0, last-partition-id 999), sort order 0 (unsorted), branch `main`.
import type { ColumnType, SchemaField } from "../types";
import type { Long } from "./manifest";

export type IcebergPrimitive = "long" | "double" | "boolean" | "date" | "timestamptz" | "string";

/** Our column types as Iceberg types. */
export const ICEBERG_TYPES: Readonly<Record<ColumnType, IcebergPrimitive>> = {
  int64: "long",
  float64: "double",
  bool: "boolean",
  date: "date",
  timestamp: "timestamptz",
  string: "string",
};

export interface IcebergField {
  id: number;
  name: string;
  required: boolean;
  type: IcebergPrimitive;
}

export interface IcebergSchema {
  type: "struct";
  "schema-id": number;
  fields: IcebergField[];
}

type FieldLike = Pick<SchemaField, "name" | "type">;

/** The table schema (schema-id 0): column i → field id i + 1, `required: false`. */
export function icebergSchema(fields: readonly FieldLike[]): IcebergSchema {
  const seen = new Set<string>();
  return {
    type: "struct",
    "schema-id": 0,
    fields: fields.map((f, i) => {
      if (seen.has(f.name))
        throw new Error(`iceberg: duplicate column name ${JSON.stringify(f.name)}`);
      seen.add(f.name);
      const type = ICEBERG_TYPES[f.type];
      if (!type)
        throw new Error(
          `iceberg: column ${JSON.stringify(f.name)}: unknown type ${JSON.stringify(f.type)}`,
        );
      return { id: i + 1, name: f.name, required: false, type };
    }),
  };
}

export interface NameMappingEntry {
  "field-id": number;
  names: string[];
}

/**
 * The name mapping (spec Appendix C, "Name Mapping Serialization") that lets readers find the
 * columns of Parquet files written without field ids: field i + 1 ↔ the column's name. Put it,
 * JSON-encoded, in the table property `schema.name-mapping.default` (tableMetadata does).
 */
export function nameMapping(fields: readonly FieldLike[]): NameMappingEntry[] {
  return fields.map((f, i) => ({ "field-id": i + 1, names: [f.name] }));
}

export const NAME_MAPPING_PROPERTY = "schema.name-mapping.default";

export type SnapshotOperation = "append" | "overwrite" | "replace" | "delete";

/**
 * A snapshot summary: `operation` (append, overwrite, replace or delete — checked when the
 * metadata is built) plus metrics; numbers are written as strings.
 */
export type SnapshotSummaryInput = Record<string, string | number | bigint>;

export interface SnapshotInput {
  snapshotId: Long;
  /** null (or absent) for the first snapshot. */
  parentSnapshotId?: Long | null;
  sequenceNumber: Long;
  timestampMs: number;
  /** The manifest list location, `s3://<bucket>/<key>`. */
  manifestList: string;
  summary: SnapshotSummaryInput;
}

export interface MetadataLogEntry {
  timestampMs: number;
  metadataFile: string;
}

export interface TableMetadataOptions {
  tableUuid: string;
  /** The table's base location, `s3://<bucket>/<prefix>`. */
  location: string;
  fields: readonly FieldLike[];
  /** Every kept snapshot, any order. */
  snapshots: readonly SnapshotInput[];
  /** null (or absent) when the table has no snapshot yet. */
  currentSnapshotId?: Long | null;
  lastUpdatedMs: number;
  /** Earlier metadata files, oldest first. */
  metadataLog?: readonly MetadataLogEntry[];
  /** Table properties; `schema.name-mapping.default` is always set from `fields`. */
  properties?: Record<string, string>;
}

export interface SnapshotJson {
  "snapshot-id": number;
  "parent-snapshot-id"?: number;
  "sequence-number": number;
  "timestamp-ms": number;
  "manifest-list": string;
  summary: Record<string, string>;
  "schema-id": number;
}

export interface TableMetadataJson {
  "format-version": 2;
  "table-uuid": string;
  location: string;
  "last-sequence-number": number;
  "last-updated-ms": number;
  "last-column-id": number;
  schemas: IcebergSchema[];
  "current-schema-id": 0;
  "partition-specs": { "spec-id": 0; fields: [] }[];
  "default-spec-id": 0;
  "last-partition-id": 999;
  "sort-orders": { "order-id": 0; fields: [] }[];
  "default-sort-order-id": 0;
  properties: Record<string, string>;
  /** -1 when there is none (what the Java reference writes for v1/v2 tables). */
  "current-snapshot-id": number;
  snapshots: SnapshotJson[];
  "snapshot-log": { "timestamp-ms": number; "snapshot-id": number }[];
  "metadata-log": { "timestamp-ms": number; "metadata-file": string }[];
  refs: Record<string, { "snapshot-id": number; type: "branch" | "tag" }>;
}

/** JSON has no 64-bit integers that every reader keeps exact: ids and sequence numbers must be safe integers. */
function jsonLong(v: Long, what: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new RangeError(`iceberg: ${what} ${v} is not a safe integer`);
  return n;
}

const OPERATIONS: readonly SnapshotOperation[] = ["append", "overwrite", "replace", "delete"];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function summaryJson(s: SnapshotSummaryInput, where: string): Record<string, string> {
  const op = s.operation as SnapshotOperation;
  if (!OPERATIONS.includes(op))
    throw new Error(
      `iceberg: ${where}.operation must be one of ${OPERATIONS.join(", ")}, got ${JSON.stringify(s.operation)}`,
    );
  const out: Record<string, string> = { operation: op };
  for (const [k, v] of Object.entries(s)) if (k !== "operation") out[k] = String(v);
  return out;
}

/**
 * The table metadata object (JSON.stringify it into `<location>/metadata/<n>-<uuid>.metadata.json`
 * or similar). Checks the snapshot graph: unique ids, parents that exist (or were expired), sequence
 * numbers increasing along each parent chain, a current snapshot that exists.
 * `snapshot-log` is the current snapshot's ancestry among the kept snapshots, oldest first.
 */
export function tableMetadata(opts: TableMetadataOptions): TableMetadataJson {
  if (!UUID.test(opts.tableUuid))
    throw new Error(`iceberg: tableUuid ${JSON.stringify(opts.tableUuid)} is not a lowercase UUID`);
  const byId = new Map<string, SnapshotInput>();
  for (const s of opts.snapshots) {
    const key = String(s.snapshotId);
    if (byId.has(key)) throw new Error(`iceberg: duplicate snapshot id ${key}`);
    byId.set(key, s);
  }
  let lastSeq = 0n;
  const snapshots = [...opts.snapshots]
    .sort((a, b) => (BigInt(a.sequenceNumber) < BigInt(b.sequenceNumber) ? -1 : 1))
    .map((s): SnapshotJson => {
      const where = `snapshot ${s.snapshotId}`;
      const seq = BigInt(s.sequenceNumber);
      if (seq > lastSeq) lastSeq = seq;
      const parent = s.parentSnapshotId ?? null;
      if (parent !== null) {
        const p = byId.get(String(parent));
        if (p && BigInt(p.sequenceNumber) >= seq)
          throw new Error(
            `iceberg: ${where}: sequence number ${seq} is not after its parent's ${p.sequenceNumber}`,
          );
      }
      return {
        "snapshot-id": jsonLong(s.snapshotId, "snapshot id"),
        ...(parent !== null
          ? { "parent-snapshot-id": jsonLong(parent, "parent snapshot id") }
          : {}),
        "sequence-number": jsonLong(s.sequenceNumber, "sequence number"),
        "timestamp-ms": s.timestampMs,
        "manifest-list": s.manifestList,
        summary: summaryJson(s.summary, `${where}.summary`),
        "schema-id": 0,
      };
    });

  const current = opts.currentSnapshotId ?? null;
  const log: { "timestamp-ms": number; "snapshot-id": number }[] = [];
  if (current !== null) {
    let s = byId.get(String(current));
    if (!s) throw new Error(`iceberg: current snapshot ${current} is not among the snapshots`);
    const seen = new Set<string>();
    while (s && !seen.has(String(s.snapshotId))) {
      seen.add(String(s.snapshotId));
      log.unshift({
        "timestamp-ms": s.timestampMs,
        "snapshot-id": jsonLong(s.snapshotId, "snapshot id"),
      });
      s =
        s.parentSnapshotId === null || s.parentSnapshotId === undefined
          ? undefined
          : byId.get(String(s.parentSnapshotId));
    }
  }

  const schema = icebergSchema(opts.fields);
  return {
    "format-version": 2,
    "table-uuid": opts.tableUuid,
    location: opts.location.replace(/\/+$/, ""),
    "last-sequence-number": jsonLong(lastSeq, "sequence number"),
    "last-updated-ms": opts.lastUpdatedMs,
    "last-column-id": schema.fields.length,
    schemas: [schema],
    "current-schema-id": 0,
    "partition-specs": [{ "spec-id": 0, fields: [] }],
    "default-spec-id": 0,
    "last-partition-id": 999,
    "sort-orders": [{ "order-id": 0, fields: [] }],
    "default-sort-order-id": 0,
    properties: {
      ...opts.properties,
      [NAME_MAPPING_PROPERTY]: JSON.stringify(nameMapping(opts.fields)),
    },
    "current-snapshot-id": current === null ? -1 : jsonLong(current, "current snapshot id"),
    snapshots,
    "snapshot-log": log,
    "metadata-log": (opts.metadataLog ?? []).map((m) => ({
      "timestamp-ms": m.timestampMs,
      "metadata-file": m.metadataFile,
    })),
    refs:
      current === null
        ? {}
        : { main: { "snapshot-id": jsonLong(current, "current snapshot id"), type: "branch" } },
  };
}

/** What a snapshot summary counts: a data file's rows and bytes. */
export interface FileCounts {
  record_count: Long;
  file_size_in_bytes: Long;
}

/**
 * The spec's snapshot summary metrics (Appendix F) for a snapshot that adds `added`, removes
 * `deleted` and leaves `live` data files (all of the snapshot's live files, added ones included):
 * added-/deleted-data-files, added-/deleted-records, added-files-size, removed-files-size (only
 * when non-zero), changed-partition-count, and the totals (always). No delete files are written,
 * so total-delete-files and the position/equality delete totals are "0".
 */
export function snapshotSummary(
  operation: SnapshotOperation,
  files: {
    added: readonly FileCounts[];
    deleted: readonly FileCounts[];
    live: readonly FileCounts[];
  },
): Record<string, string> {
  const sum = (list: readonly FileCounts[], k: keyof FileCounts) =>
    list.reduce((n, f) => n + BigInt(f[k]), 0n);
  const out: Record<string, string> = { operation };
  const put = (k: string, v: bigint | number, always = false) => {
    if (always || BigInt(v) !== 0n) out[k] = String(v);
  };
  put("added-data-files", files.added.length);
  put("deleted-data-files", files.deleted.length);
  put("added-records", sum(files.added, "record_count"));
  put("deleted-records", sum(files.deleted, "record_count"));
  put("added-files-size", sum(files.added, "file_size_in_bytes"));
  put("removed-files-size", sum(files.deleted, "file_size_in_bytes"));
  put("changed-partition-count", files.added.length + files.deleted.length > 0 ? 1 : 0, true);
  put("total-records", sum(files.live, "record_count"), true);
  put("total-files-size", sum(files.live, "file_size_in_bytes"), true);
  put("total-data-files", files.live.length, true);
  put("total-delete-files", 0, true);
  put("total-position-deletes", 0, true);
  put("total-equality-deletes", 0, true);
  return out;
}
