// Parquet written row group by row group to a stream (hyparquet-writer's ParquetWriter
// with a Writer that hands each finished row group's bytes on and reuses its buffer),
// so memory holds one row group whatever the file size.
import { ByteWriter, ParquetWriter } from "hyparquet-writer";
import type { SchemaField } from "../../../shared/types";

type SchemaElement = ConstructorParameters<typeof ParquetWriter>[0]["schema"][number];
type Codec = "SNAPPY" | "ZSTD" | "UNCOMPRESSED";

/** Target page and dictionary size under ZSTD, below one zstd frame (compression.ts). */
const ZSTD_PAGE_BYTES = 24 * 1024;

export function parquetSchema(fields: readonly SchemaField[]): SchemaElement[] {
  const leaf = (f: SchemaField): SchemaElement => {
    // Every column is OPTIONAL in the file: later row groups or appends may bring nulls.
    const base = { name: f.name, repetition_type: "OPTIONAL" as const };
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
          converted_type: "TIMESTAMP_MILLIS",
          logical_type: { type: "TIMESTAMP", isAdjustedToUTC: true, unit: "MILLIS" },
        } as SchemaElement;
      case "string":
        return { ...base, type: "BYTE_ARRAY", converted_type: "UTF8" };
    }
  };
  return [{ name: "root", num_children: fields.length }, ...fields.map(leaf)];
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
  private readonly codec: Codec;
  rows = 0;

  constructor(
    fields: readonly SchemaField[],
    codec: Codec,
    sink: (bytes: Uint8Array) => Promise<void>,
    compressors?: Record<string, (input: Uint8Array) => Uint8Array>,
  ) {
    this.writer = new StreamingWriter(sink);
    this.codec = codec;
    this.names = fields.map((f) => f.name);
    this.pq = new ParquetWriter({
      writer: this.writer,
      schema: parquetSchema(fields),
      codec,
      compressors: compressors as never,
      statistics: true,
      createdBy: "lakehouse-ingest (hyparquet-writer)",
    });
  }

  /** Writes one row group from converted column values (all the same length). */
  async writeGroup(columns: unknown[][]): Promise<void> {
    const n = columns[0]?.length ?? 0;
    if (n === 0) return;
    const columnData = columns.map((data, i) => ({ name: this.names[i]!, data: data as never }));
    // ZSTD pages (and dictionaries) are kept under one zstd frame: see compression.ts.
    const small = this.codec === "ZSTD" ? { pageSize: ZSTD_PAGE_BYTES, dictionarySize: ZSTD_PAGE_BYTES } : {};
    await this.pq.write({ columnData, rowGroupSize: n, ...small });
    this.rows += n;
  }

  async finish(): Promise<void> {
    await this.pq.finish();
  }
}
