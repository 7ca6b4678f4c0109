// One Iceberg snapshot of a dataset, written to R2 before the catalog commits it: the manifest of
// the files it adds, a rewritten manifest where files leave, the manifest list, and the table
// metadata JSON. Pure planning over the catalog's rows plus the R2 writes; the Catalog object
// commits the returned rows in one transaction (the atomic point), or deletes what was written.
// Format pieces (Avro, data-file statistics, metadata JSON) are in shared/iceberg.
// Layout (docs/storage-layout.md, "Iceberg tables"):
//   <prefix><name>/metadata/<version>-<uuid>.metadata.json   table metadata, one per commit
//   <prefix><name>/metadata/snap-<version>-<uuid>.avro        manifest list of snapshot <version>
//   <prefix><name>/metadata/<uuid>-m<n>.avro                  manifests
import { parquetMetadataAsync } from "hyparquet";
import {
  type DataFile,
  dataFileFromParquet,
  decodeDataFile,
  encodeDataFile,
  type ManifestEntry,
  type ManifestListEntry,
  manifestListEntry,
  PARQUET_STATS_PARSERS,
  tableMetadata,
  writeManifest,
  writeManifestList,
} from "../../../shared/iceberg";
import { lakehouseConfig } from "../../../shared/lakehouse-config";
import type { SchemaField } from "../../../shared/types";

/** A file of the dataset as the catalog holds it. */
export interface FileState {
  key: string;
  size: number;
  row_count: number;
  added_version: number;
  /** the manifest listing it while live (null: registered before Iceberg) */
  manifest: string | null;
  /** its stored data_file (JSON from encodeStored), null until known */
  data_file: string | null;
}

export interface ManifestRecordRow {
  path: string;
  added_version: number;
  record: Record<string, unknown>;
}

export interface SnapshotRow {
  version: number;
  /** the snapshot it was made on (null: the table's first); kept after that one expires */
  parent: number | null;
  created_ms: number;
  manifest_list: string;
  summary: Record<string, string>;
}

export interface SnapshotInput {
  name: string;
  schema: SchemaField[];
  tableUuid: string;
  /** the snapshot id and sequence number (= the catalog version) */
  version: number;
  /** its parent snapshot: the version current before it (null for the table's first), expired or not */
  parent: number | null;
  nowMs: number;
  /** "metadata": the snapshot exists (reuseManifestList); only new table metadata is written */
  operation: "append" | "overwrite" | "replace" | "metadata";
  kept: FileState[];
  removed: FileState[];
  added: { key: string; size: number; row_count: number }[];
  manifests: ManifestRecordRow[];
  /** earlier kept snapshots, oldest first (the current one too for "metadata") */
  history: SnapshotRow[];
  metadataLog: { timestamp_ms: number; key: string }[];
  reuseManifestList?: string;
}

export interface SnapshotOutput {
  manifestList: string;
  metadataKey: string;
  summary: Record<string, string>;
  /** file key → the manifest listing it after this snapshot (new or rewritten placements only) */
  fileManifest: Map<string, string>;
  /** file key → its stored data_file (files whose statistics were read now) */
  dataFiles: Map<string, string>;
  newManifests: { path: string; record: Record<string, unknown> }[];
  /** live manifests this snapshot no longer lists */
  droppedManifests: string[];
  /** every object written (deleted again if the commit fails) */
  written: string[];
}

/** What the catalog stores per file: the snapshot that put it in Iceberg, and its data_file. */
interface Stored {
  snapshot: number;
  file: DataFile;
}

function encodeStored(s: Stored): string {
  return JSON.stringify({ snapshot: s.snapshot, file: encodeDataFile(s.file) });
}

function decodeStored(text: string): Stored {
  const raw = JSON.parse(text) as { snapshot: number; file: unknown };
  return { snapshot: raw.snapshot, file: decodeDataFile(raw.file) };
}

export function s3Location(bucket: string, key: string): string {
  return `s3://${bucket}/${key}`;
}

/** The storage key of an `s3://<bucket>/<key>` location of this lake, or null. */
export function keyOfLocation(bucket: string, location: string): string | null {
  const prefix = `s3://${bucket}/`;
  return location.startsWith(prefix) ? location.slice(prefix.length) : null;
}

async function readDataFile(
  env: Env,
  bucket: string,
  key: string,
  size: number,
  schema: SchemaField[],
): Promise<DataFile> {
  const file = {
    byteLength: size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const obj = await env.LAKE.get(key, {
        range: { offset: start, length: (end ?? size) - start },
      });
      if (!obj) throw new Error(`object ${key} is missing from the LAKE bucket`);
      return obj.arrayBuffer();
    },
  };
  // statistics kept in the column's unit (exact microsecond bounds); a footer is at most 64 KiB in one read for our files
  const metadata = await parquetMetadataAsync(file, {
    parsers: PARQUET_STATS_PARSERS,
    initialFetchSize: 64 * 1024,
  });
  return dataFileFromParquet(metadata, { path: s3Location(bucket, key), fileSize: size, schema });
}

export async function writeSnapshot(env: Env, input: SnapshotInput): Promise<SnapshotOutput> {
  const config = lakehouseConfig(env);
  const bucket = config.catalogd.bucket_name;
  const dir = `${config.ingestd.prefix}${input.name}/metadata/`;
  const written: string[] = [];
  const out: SnapshotOutput = {
    manifestList: input.reuseManifestList ?? "",
    metadataKey: "",
    summary: {},
    fileManifest: new Map(),
    dataFiles: new Map(),
    newManifests: [],
    droppedManifests: [],
    written,
  };
  const put = async (key: string, body: Uint8Array | string, contentType: string) => {
    written.push(key);
    await env.LAKE.put(key, body, { httpMetadata: { contentType } });
  };
  const v = input.version;
  try {
    let snapshots = input.history;
    if (input.operation !== "metadata") {
      // Files Iceberg does not list yet: the new ones, and any registered before Iceberg.
      const fresh: { key: string; size: number; row_count: number }[] = [
        ...input.added,
        ...input.kept.filter((f) => !f.manifest),
      ];
      const freshEntries: ManifestEntry[] = [];
      for (const f of fresh) {
        const file = await readDataFile(env, bucket, f.key, f.size, input.schema);
        out.dataFiles.set(f.key, encodeStored({ snapshot: v, file }));
        freshEntries.push({
          status: 1,
          snapshotId: v,
          sequenceNumber: v,
          fileSequenceNumber: v,
          dataFile: file,
        });
      }
      // Live manifests: carried when none of their files leave; otherwise rewritten (kept files
      // EXISTING, leaving files DELETED); dropped when they list no live file any more.
      const keptBy = new Map<string, FileState[]>();
      for (const f of input.kept)
        if (f.manifest) keptBy.set(f.manifest, [...(keptBy.get(f.manifest) ?? []), f]);
      const removedBy = new Map<string, FileState[]>();
      for (const f of input.removed)
        if (f.manifest) removedBy.set(f.manifest, [...(removedBy.get(f.manifest) ?? []), f]);
      const carried: ManifestListEntry[] = [];
      const rewrite: ManifestEntry[] = [];
      const rewrittenKeys: string[] = [];
      for (const m of input.manifests) {
        const keptIn = keptBy.get(m.path) ?? [];
        const removedIn = removedBy.get(m.path) ?? [];
        if (removedIn.length === 0 && keptIn.length > 0) {
          carried.push(m.record as unknown as ManifestListEntry);
          continue;
        }
        out.droppedManifests.push(m.path);
        for (const f of keptIn) {
          const s = decodeStored(f.data_file!);
          rewrite.push({
            status: 0,
            snapshotId: s.snapshot,
            sequenceNumber: s.snapshot,
            fileSequenceNumber: s.snapshot,
            dataFile: s.file,
          });
          rewrittenKeys.push(f.key);
        }
        for (const f of removedIn) {
          const s = decodeStored(f.data_file!);
          rewrite.push({
            status: 2,
            snapshotId: v,
            sequenceNumber: s.snapshot,
            fileSequenceNumber: s.snapshot,
            dataFile: s.file,
          });
        }
      }
      const lists: ManifestListEntry[] = [...carried];
      let n = 0;
      const addManifest = async (entries: ManifestEntry[], keys: string[]) => {
        const path = `${dir}${crypto.randomUUID()}-m${n++}.avro`;
        const bytes = writeManifest({ entries, schema: input.schema, snapshotId: v });
        await put(path, bytes, "application/avro");
        const record = manifestListEntry({
          path: s3Location(bucket, path),
          length: bytes.byteLength,
          entries,
          snapshotId: v,
          sequenceNumber: v,
        });
        lists.push(record);
        out.newManifests.push({ path, record: record as unknown as Record<string, unknown> });
        for (const k of keys) out.fileManifest.set(k, path);
      };
      if (rewrite.length) await addManifest(rewrite, rewrittenKeys);
      if (freshEntries.length)
        await addManifest(
          freshEntries,
          fresh.map((f) => f.key),
        );

      out.manifestList = `${dir}snap-${v}-${crypto.randomUUID()}.avro`;
      await put(
        out.manifestList,
        writeManifestList({
          manifests: lists,
          snapshotId: v,
          parentSnapshotId: input.parent,
          sequenceNumber: v,
        }),
        "application/avro",
      );

      const keptRows = input.kept.reduce((s, f) => s + f.row_count, 0);
      const addedRows = input.added.reduce((s, f) => s + f.row_count, 0);
      const removedRows = input.removed.reduce((s, f) => s + f.row_count, 0);
      const keptBytes = input.kept.reduce((s, f) => s + f.size, 0);
      const addedBytes = input.added.reduce((s, f) => s + f.size, 0);
      out.summary = {
        operation: input.operation,
        "added-data-files": String(input.added.length),
        "deleted-data-files": String(input.removed.length),
        "added-records": String(addedRows),
        "deleted-records": String(removedRows),
        "added-files-size": String(addedBytes),
        "removed-files-size": String(input.removed.reduce((s, f) => s + f.size, 0)),
        "total-records": String(keptRows + addedRows),
        "total-data-files": String(input.kept.length + input.added.length),
        "total-files-size": String(keptBytes + addedBytes),
        "total-delete-files": "0",
        "total-position-deletes": "0",
        "total-equality-deletes": "0",
      };
      snapshots = [
        ...input.history,
        {
          version: v,
          parent: input.parent,
          created_ms: input.nowMs,
          manifest_list: out.manifestList,
          summary: out.summary,
        },
      ];
    } else {
      out.summary = input.history.find((s) => s.version === v)?.summary ?? {};
    }

    out.metadataKey = `${dir}${String(v).padStart(5, "0")}-${crypto.randomUUID()}.metadata.json`;
    const metadata = tableMetadata({
      tableUuid: input.tableUuid,
      location: s3Location(bucket, `${config.ingestd.prefix}${input.name}`),
      fields: input.schema,
      // A snapshot's parent is the one it was made on, for life: never re-derived from the kept
      // list (an expired parent stays named; readers follow snapshot-log and current-snapshot-id).
      snapshots: snapshots.map((s) => ({
        snapshotId: s.version,
        parentSnapshotId: s.parent,
        sequenceNumber: s.version,
        timestampMs: s.created_ms,
        manifestList: s3Location(bucket, s.manifest_list),
        summary: s.summary,
      })),
      currentSnapshotId: snapshots.length ? v : null,
      lastUpdatedMs: Date.now(),
      metadataLog: input.metadataLog.map((m) => ({
        timestampMs: m.timestamp_ms,
        metadataFile: s3Location(bucket, m.key),
      })),
      properties: { "lakehouse.dataset": input.name },
    });
    await put(out.metadataKey, JSON.stringify(metadata), "application/json");
    return out;
  } catch (err) {
    for (const k of written) await env.LAKE.delete(k).catch(() => undefined);
    throw err;
  }
}
