// Parquet written row group by row group to a stream (hyparquet-writer's ParquetWriter
// with a Writer that hands each finished row group's bytes on and reuses its buffer),
// so memory holds one row group whatever the file size.
// Iceberg-ready (issue #13): every column carries field_id = its 0-based position + 1 (the id
// the Iceberg table schema gives it), and timestamps are INT64
// TIMESTAMP(isAdjustedToUTC=true, unit=MICROS), Iceberg's timestamptz.
import { ByteWriter, ParquetWriter } from "hyparquet-writer";
import type { SchemaField } from "../../../shared/types";

type SchemaElement = ConstructorParameters<typeof ParquetWriter>[0]["schema"][number];
export type Codec = "SNAPPY" | "ZSTD" | "UNCOMPRESSED";

/** Target page and dictionary size under ZSTD, below one zstd frame (compression.ts). */
const ZSTD_PAGE_BYTES = 24 * 1024;

export function parquetSchema(fields: readonly SchemaField[]): SchemaElement[] {
  const leaf = (f: SchemaField, i: number): SchemaElement => {
    // Every column is OPTIONAL in the file: later row groups or appends may bring nulls.
    // field_id: the Iceberg field id of the column (its 1-based position).
    const base = { name: f.name, repetition_type: "OPTIONAL" as const, field_id: i + 1 };
    switch (f.type) {
      case "int64":
        return { ...base, type: "INT64" };
      case "float64":
        return { ...base, type: "DOUBLE" };
      case "bool":
        return { ...base, type: "BOOLEAN" };
      case "date":
        return {
          ...base,
          type: "INT32",
          converted_type: "DATE",
          logical_type: { type: "DATE" },
        } as SchemaElement;
      case "timestamp":
        return {
          ...base,
          type: "INT64",
          converted_type: "TIMESTAMP_MICROS",
          logical_type: { type: "TIMESTAMP", isAdjustedToUTC: true, unit: "MICROS" },
        } as SchemaElement;
      case "string":
        return { ...base, type: "BYTE_ARRAY", converted_type: "UTF8" };
    }
  };
  return [{ name: "root", num_children: fields.length }, ...fields.map((f, i) => leaf(f, i))];
}

/**
 * A timestamp column's values as the file's INT64 microseconds. hyparquet-writer scales only
 * Date objects to the column's unit; a number or bigint is written as it is, so ingest's
 * milliseconds (numbers) are scaled here. A bigint is already microseconds (compaction
 * reads them so, compact.ts); a Date is converted exactly.
 */
export function timestampMicros(values: readonly unknown[]): (bigint | null)[] {
  const out = new Array<bigint | null>(values.length);
  let last: unknown;
  let lastMicros: bigint | null = null;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      out[i] = null;
      continue;
    }
    if (v === last) {
      out[i] = lastMicros; // sorted and bucketed data repeats timestamps
      continue;
    }
    let micros: bigint;
    if (typeof v === "bigint") micros = v;
    else if (typeof v === "number") {
      if (!Number.isInteger(v))
        throw new Error(`timestamp value ${v} is not a whole number of milliseconds`);
      micros = BigInt(v) * 1000n;
    } else if (v instanceof Date) micros = BigInt(v.getTime()) * 1000n;
    else
      throw new Error(`timestamp value ${String(v)} is not milliseconds, microseconds or a Date`);
    out[i] = micros;
    last = v;
    lastMicros = micros;
  }
  return out;
}

/** A ByteWriter whose flush() passes the bytes written so far to `sink` and starts over. */
class StreamingWriter extends ByteWriter {
  constructor(private readonly sink: (bytes: Uint8Array) => Promise<void>) {
    super(1 << 20);
  }
  flush(): Promise<void> {
    const bytes = new Uint8Array(this.buffer, 0, this.index).slice();
    this.index = 0;
    return bytes.byteLength ? this.sink(bytes) : Promise.resolve();
  }
  override finish(): Promise<void> {
    return this.flush();
  }
}

export class ParquetStream {
  private readonly pq: ParquetWriter;
  private readonly writer: StreamingWriter;
  private readonly names: string[];
  private readonly timestamps: boolean[];
  private readonly codec: Codec;
  rows = 0;
  groups = 0;

  constructor(
    fields: readonly SchemaField[],
    codec: Codec,
    sink: (bytes: Uint8Array) => Promise<void>,
    compressors?: Record<string, (input: Uint8Array) => Uint8Array>,
  ) {
    this.writer = new StreamingWriter(sink);
    this.codec = codec;
    this.names = fields.map((f) => f.name);
    this.timestamps = fields.map((f) => f.type === "timestamp");
    this.pq = new ParquetWriter({
      writer: this.writer,
      schema: parquetSchema(fields),
      codec,
      compressors: compressors as never,
      statistics: true,
      createdBy: "lakehouse-ingest (hyparquet-writer)",
    });
  }

  /** Bytes of the file so far (all flushed to the sink after each row group). */
  get bytes(): number {
    return this.writer.offset;
  }

  /**
   * Writes one row group from converted column values (all the same length). Timestamp
   * columns take milliseconds as numbers (ingest), microseconds as bigints, or Dates.
   */
  async writeGroup(columns: unknown[][]): Promise<void> {
    const n = columns[0]?.length ?? 0;
    if (n === 0) return;
    const columnData = columns.map((data, i) => ({
      name: this.names[i]!,
      data: (this.timestamps[i] ? timestampMicros(data) : data) as never,
    }));
    // ZSTD pages (and dictionaries) are kept under one zstd frame: see compression.ts.
    const small =
      this.codec === "ZSTD" ? { pageSize: ZSTD_PAGE_BYTES, dictionarySize: ZSTD_PAGE_BYTES } : {};
    await this.pq.write({ columnData, rowGroupSize: n, ...small });
    this.rows += n;
    this.groups++;
  }

  async finish(): Promise<void> {
    await this.pq.finish();
  }
}
