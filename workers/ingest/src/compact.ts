// Compaction, the Parquet part (issue #13): the rows of a dataset's objects, read in the
// given order, rewritten into new objects of full row groups. The catalog decides what to
// compact and registers the result (POST /ingest/compact, index.ts); this module only reads
// and writes Parquet, and registers nothing.
//
// - Reading: hyparquet over an AsyncBuffer of ranged GETs through the storage service (the
//   ingest Worker has no R2 binding). An object of at most WHOLE_READ_BYTES is fetched once,
//   whole, and sliced in memory (one subrequest for the small files compaction is for).
// - Writing: ParquetStream, as ingest writes (same schema, field ids, MICROS timestamps,
//   codec): full row groups of `rowGroupRows` rows (the last one of the run may be partial),
//   streamed to `PUT /storage/objects/<prefix><name>/<uuid>.parquet`; an output object ends
//   after `maxGroupsPerObject` row groups or once it passes `maxObjectBytes`.
// - Memory: the rows waiting for the next output row group plus the slice being read, which
//   is never more than the rows still missing from it: about one row group in all (plus
//   a small input object read whole). Never the dataset.
// - Atomic: any failure deletes every output already written (and the one being written)
//   before the error is thrown; the inputs are never touched.

import { decompress as zstdDecompress } from "fzstd";
import {
  type AsyncBuffer,
  type Compressors,
  type FileMetaData,
  parquetMetadataAsync,
  parquetRead,
  type SchemaElement,
} from "hyparquet";
import type { ServiceClient } from "../../../shared/clients";
import { errorFromResponse, LakehouseError } from "../../../shared/errors";
import { toHex } from "../../../shared/hash";
import { encodeKeyPath } from "../../../shared/keys";
import type { ColumnType, SchemaField } from "../../../shared/types";
import { type Codec, ParquetStream } from "./parquet-out";

export interface CompactInput {
  key: string;
  size: number;
  row_count: number;
}

export interface CompactOutput {
  key: string;
  size: number;
  row_count: number;
  /** SHA-256 (hex) of the output object's bytes. */
  content_sha256: string;
}

export interface CompactOptions {
  storage: ServiceClient;
  /** [ingestd].prefix: outputs go to `<prefix><name>/<uuid>.parquet`. */
  prefix: string;
  name: string;
  schema: readonly SchemaField[];
  objects: readonly CompactInput[];
  /** Rows per output row group ([ingestd].row_group_rows). */
  rowGroupRows: number;
  codec: Codec;
  compressors?: Record<string, (input: Uint8Array) => Uint8Array>;
  /** An output object ends after this many row groups (default 8) ... */
  maxGroupsPerObject?: number;
  /** ... or once it is at least this many bytes (default 128 MiB). */
  maxObjectBytes?: number;
  /** Inputs up to this size are read with one GET (default 1 MiB). */
  wholeReadBytes?: number;
}

export const DEFAULT_MAX_GROUPS_PER_OBJECT = 8;
export const DEFAULT_MAX_OBJECT_BYTES = 128 * 1024 * 1024;
const WHOLE_READ_BYTES = 1024 * 1024;

/** Decompressors for reading (Snappy is built into hyparquet). */
const DECOMPRESSORS: Compressors = {
  ZSTD: (input, outputLength) => zstdDecompress(input, new Uint8Array(outputLength)),
};

/** Timestamps are read as bigint microseconds whatever the input's unit (older objects are MILLIS). */
const PARSERS = {
  timestampFromMilliseconds: (v: bigint) => v * 1000n,
  timestampFromMicroseconds: (v: bigint) => v,
  timestampFromNanoseconds: (v: bigint) => v / 1000n,
  dateFromDays: (v: number) => v, // dates as days (INT32), as written
};

async function deleteQuietly(storage: ServiceClient, key: string): Promise<void> {
  try {
    const res = await storage.fetch(`/objects/${encodeKeyPath(key)}`, { method: "DELETE" });
    await res.body?.cancel();
  } catch (err) {
    console.error(`[ingest] compaction could not delete ${key}: ${(err as Error).message}`);
  }
}

/**
 * An AsyncBuffer over one stored object, read through the storage service by ranged GETs
 * (the whole object at once when it is small). Checks the declared size against the
 * stored one; a missing object is a 404 naming the field.
 */
export function storageBuffer(
  storage: ServiceClient,
  object: CompactInput,
  field: string,
  wholeReadBytes = WHOLE_READ_BYTES,
): AsyncBuffer {
  const { key, size } = object;
  let whole: Promise<ArrayBuffer> | undefined;
  const get = async (start: number, end: number): Promise<ArrayBuffer> => {
    const res = await storage.fetch(`/objects/${encodeKeyPath(key)}`, {
      headers: { range: `bytes=${start}-${end - 1}` },
    });
    if (res.status === 404) {
      await res.body?.cancel();
      throw new LakehouseError(
        "not_found",
        `${field}.key: object ${JSON.stringify(key)} not found in storage`,
      );
    }
    if (res.status === 416) {
      await res.body?.cancel();
      throw new LakehouseError(
        "bad_request",
        `${field}.size: declared ${size} bytes, more than the stored object ${JSON.stringify(key)} has`,
      );
    }
    if (!res.ok) throw await errorFromResponse(res, `reading ${key} from storage`);
    const total = Number(
      /\/(\d+)$/.exec(res.headers.get("content-range") ?? "")?.[1] ??
        res.headers.get("content-length") ??
        NaN,
    );
    if (total !== size) {
      await res.body?.cancel();
      throw new LakehouseError(
        "bad_request",
        `${field}.size: declared ${size} bytes, the stored object ${JSON.stringify(key)} has ${total}`,
      );
    }
    const buf = await res.arrayBuffer();
    const bytes = res.status === 206 ? buf : buf.slice(start, end);
    if (bytes.byteLength !== end - start)
      throw new LakehouseError(
        "bad_gateway",
        `storage answered ${bytes.byteLength} bytes of ${key} for a range of ${end - start}`,
      );
    return bytes;
  };
  return {
    byteLength: size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const stop = Math.min(end ?? size, size);
      if (stop <= start) return new ArrayBuffer(0);
      if (size <= wholeReadBytes) {
        whole ??= get(0, size);
        return (await whole).slice(start, stop);
      }
      return get(start, stop);
    },
  };
}

/** Whether a file's column (a flat leaf) holds the dataset type `type`. */
function holds(element: SchemaElement, type: ColumnType): boolean {
  const isTimestamp =
    element.logical_type?.type === "TIMESTAMP" ||
    element.converted_type === "TIMESTAMP_MILLIS" ||
    element.converted_type === "TIMESTAMP_MICROS";
  switch (type) {
    case "int64":
      return element.type === "INT64" && !isTimestamp;
    case "float64":
      return element.type === "DOUBLE";
    case "bool":
      return element.type === "BOOLEAN";
    case "date":
      return (
        element.type === "INT32" &&
        (element.converted_type === "DATE" || element.logical_type?.type === "DATE")
      );
    case "timestamp":
      return element.type === "INT64" && isTimestamp;
    case "string":
      return element.type === "BYTE_ARRAY";
  }
}

/** Reads an input's footer and checks it against the request: its columns and types, its row count. */
async function readFooter(
  file: AsyncBuffer,
  object: CompactInput,
  field: string,
  schema: readonly SchemaField[],
): Promise<FileMetaData> {
  let metadata: FileMetaData;
  try {
    metadata = await parquetMetadataAsync(file, { initialFetchSize: 64 * 1024 });
  } catch (err) {
    if (err instanceof LakehouseError) throw err;
    throw new LakehouseError(
      "bad_request",
      `${field}.key: ${JSON.stringify(object.key)} is not a readable Parquet file (${(err as Error).message})`,
    );
  }
  const leaves = metadata.schema.slice(1);
  if (leaves.some((e) => (e.num_children ?? 0) > 0)) {
    throw new LakehouseError(
      "bad_request",
      `${field}.key: ${JSON.stringify(object.key)} has nested columns; dataset objects are flat`,
    );
  }
  const byName = new Map(leaves.map((e) => [e.name, e]));
  const fileNames = leaves.map((e) => e.name);
  if (leaves.length !== schema.length || schema.some((f) => !byName.has(f.name))) {
    throw new LakehouseError(
      "bad_request",
      `${field}.key: ${JSON.stringify(object.key)} has columns ${fileNames.join(", ")}; the schema has ${schema.map((f) => f.name).join(", ")}`,
    );
  }
  for (const f of schema) {
    const e = byName.get(f.name)!;
    if (!holds(e, f.type)) {
      const stored = [e.type, e.logical_type?.type ?? e.converted_type].filter(Boolean).join(" ");
      throw new LakehouseError(
        "bad_request",
        `${field}.key: column ${JSON.stringify(f.name)} of ${JSON.stringify(object.key)} is ${stored}, not the schema's ${f.type}`,
      );
    }
  }
  const rows = Number(metadata.num_rows);
  if (rows !== object.row_count) {
    throw new LakehouseError(
      "bad_request",
      `${field}.row_count: declared ${object.row_count} rows, ${JSON.stringify(object.key)} has ${rows}`,
    );
  }
  return metadata;
}

/**
 * Reads rows [start, end) (within one row group) of `names` and appends them to `into`,
 * one array per column. Nulls are null; timestamps bigint microseconds.
 */
async function readRows(
  file: AsyncBuffer,
  metadata: FileMetaData,
  names: string[],
  start: number,
  end: number,
  into: unknown[][],
  key: string,
): Promise<void> {
  const n = end - start;
  const parts = new Map<string, { rowStart: number; data: ArrayLike<unknown> }[]>();
  await parquetRead({
    file,
    metadata,
    columns: names,
    rowStart: start,
    rowEnd: end,
    compressors: DECOMPRESSORS,
    parsers: PARSERS,
    onChunk: (chunk) => {
      const list = parts.get(chunk.columnName) ?? [];
      list.push({ rowStart: chunk.rowStart, data: chunk.columnData as ArrayLike<unknown> });
      parts.set(chunk.columnName, list);
    },
  });
  names.forEach((name, c) => {
    const values = new Array<unknown>(n);
    let filled = 0;
    for (const part of parts.get(name) ?? []) {
      const from = Math.max(start, part.rowStart);
      const to = Math.min(end, part.rowStart + part.data.length);
      for (let r = from; r < to; r++) values[r - start] = part.data[r - part.rowStart] ?? null;
      if (to > from) filled += to - from;
    }
    if (filled !== n)
      throw new LakehouseError(
        "internal",
        `compaction read ${filled} of ${n} rows of column ${JSON.stringify(name)} from ${key}`,
      );
    const out = into[c]!;
    for (let i = 0; i < n; i++) out.push(values[i]);
  });
}

/** One output object being written: a streamed PUT, its SHA-256 and its size as they go. */
class OutputObject {
  readonly key: string;
  readonly stream: ParquetStream;
  private readonly pipe = new TransformStream<Uint8Array, Uint8Array>();
  private readonly writer = this.pipe.writable.getWriter();
  private readonly digest = new crypto.DigestStream("SHA-256");
  private readonly digestWriter = this.digest.getWriter();
  private put: Promise<Response> | undefined;
  private size = 0;

  constructor(
    private readonly storage: ServiceClient,
    prefix: string,
    name: string,
    schema: readonly SchemaField[],
    codec: Codec,
    compressors?: Record<string, (input: Uint8Array) => Uint8Array>,
  ) {
    this.key = `${prefix}${name}/${crypto.randomUUID()}.parquet`;
    this.writer.closed.catch(() => {});
    this.digest.digest.catch(() => {});
    const fields = schema.map((f) => ({ name: f.name, type: f.type, nullable: true }));
    this.stream = new ParquetStream(fields, codec, (bytes) => this.write(bytes), compressors);
  }

  /** The PUT opens with the first bytes (the first row group), so nothing is created before. */
  private startPut(): Promise<Response> {
    if (!this.put) {
      this.put = this.storage.fetch(`/objects/${encodeKeyPath(this.key)}`, {
        method: "PUT",
        body: this.pipe.readable,
        headers: { "content-type": "application/vnd.apache.parquet" },
      });
      this.put.catch(() => {});
    }
    return this.put;
  }

  private async write(bytes: Uint8Array): Promise<void> {
    this.startPut();
    this.size += bytes.byteLength;
    await this.digestWriter.write(bytes);
    await this.writer.write(bytes);
  }

  /** Writes the footer and completes the PUT. */
  async finish(): Promise<CompactOutput> {
    await this.stream.finish();
    await this.writer.close();
    const res = await this.startPut();
    if (!res.ok) throw await errorFromResponse(res, `writing ${this.key}`);
    const stored = (await res.json()) as { key: string; size: number };
    if (stored.size !== this.size)
      throw new LakehouseError(
        "internal",
        `storage stored ${stored.size} bytes of ${this.key}, ${this.size} were written`,
      );
    await this.digestWriter.close();
    const sha = toHex(await this.digest.digest);
    return { key: this.key, size: this.size, row_count: this.stream.rows, content_sha256: sha };
  }

  /** Ends an abandoned output: the stream is closed (not aborted) and what reached storage deleted. */
  async discard(): Promise<void> {
    if (!this.put) return;
    await this.writer.close().catch(() => {});
    try {
      const res = await this.put;
      await res.body?.cancel();
    } catch {
      // the PUT failed with the stream
    }
    await deleteQuietly(this.storage, this.key);
  }
}

/**
 * Rewrites the rows of `objects`, in order, into new objects of full row groups.
 * Returns the new objects in row order; on any failure deletes them and throws.
 * Inputs are named in errors as `objects[i]` (the route's body field).
 */
export async function compactObjects(
  options: CompactOptions,
): Promise<{ objects: CompactOutput[] }> {
  const { storage, schema, rowGroupRows } = options;
  if (!Number.isInteger(rowGroupRows) || rowGroupRows < 1)
    throw new LakehouseError(
      "internal",
      `rowGroupRows must be a positive integer, got ${rowGroupRows}`,
    );
  const maxGroups = options.maxGroupsPerObject ?? DEFAULT_MAX_GROUPS_PER_OBJECT;
  const maxBytes = options.maxObjectBytes ?? DEFAULT_MAX_OBJECT_BYTES;
  const names = schema.map((f) => f.name);
  const outputs: CompactOutput[] = [];
  let current: OutputObject | undefined;
  let pending: unknown[][] = names.map(() => []);
  let pendingRows = 0;

  const flushGroup = async (): Promise<void> => {
    current ??= new OutputObject(
      storage,
      options.prefix,
      options.name,
      schema,
      options.codec,
      options.compressors,
    );
    const columns = pending;
    pending = names.map(() => []);
    pendingRows = 0;
    await current.stream.writeGroup(columns);
    if (current.stream.groups >= maxGroups || current.stream.bytes >= maxBytes) {
      const done = current;
      current = undefined;
      outputs.push(
        await done.finish().catch(async (err) => {
          await done.discard();
          throw err;
        }),
      );
    }
  };

  try {
    for (let i = 0; i < options.objects.length; i++) {
      const object = options.objects[i]!;
      const field = `objects[${i}]`;
      const file = storageBuffer(storage, object, field, options.wholeReadBytes);
      const metadata = await readFooter(file, object, field, schema);
      let groupStart = 0;
      for (const rg of metadata.row_groups) {
        const groupEnd = groupStart + Number(rg.num_rows);
        for (let at = groupStart; at < groupEnd; ) {
          const take = Math.min(rowGroupRows - pendingRows, groupEnd - at);
          await readRows(file, metadata, names, at, at + take, pending, object.key);
          pendingRows += take;
          at += take;
          if (pendingRows === rowGroupRows) await flushGroup();
        }
        groupStart = groupEnd;
      }
    }
    if (pendingRows > 0) await flushGroup();
    if (current) {
      const done: OutputObject = current;
      current = undefined;
      outputs.push(
        await done.finish().catch(async (err) => {
          await done.discard();
          throw err;
        }),
      );
    }
    return { objects: outputs };
  } catch (err) {
    await (current as OutputObject | undefined)?.discard();
    for (const o of outputs) await deleteQuietly(storage, o.key);
    throw err;
  }
}
