// The CSV → Parquet pipeline. The source is always an object in storage (a request
// body is first staged there), read as a stream, so a CSV larger than memory ingests:
// memory holds one row group. Types are inferred over the first row group (at least
// [ingestd].sample_rows rows); if a later value does not fit its column's type, the
// column widens (int64 → float64, else → string) and the pass restarts from the top
// of the source with the wider schema (the partial output is discarded).
// What the query engine cannot load is refused while parsing (options.limits: columns,
// field and record bytes; see csv.ts), so a file over them never becomes a dataset.
import { LakehouseError } from "../../../shared/errors";
import { toHex } from "../../../shared/hash";
import type { ColumnType, SchemaField } from "../../../shared/types";
import { CsvParser, type ParserLimits } from "./csv";
import { convertColumn, inferColumn, TypeMismatch } from "./infer";
import { ParquetStream } from "./parquet-out";

export interface ConvertOptions {
  sampleRows: number;
  rowGroupRows: number;
  codec: "SNAPPY" | "ZSTD" | "UNCOMPRESSED";
  compressors?: Record<string, (input: Uint8Array) => Uint8Array>;
  /** Types decided by an earlier pass (after a widening); otherwise inferred. */
  types?: ColumnType[];
  /** [ingestd].max_columns / max_field_bytes / max_row_bytes (none by default). */
  limits?: ParserLimits;
}

export type ConvertOutcome =
  | { kind: "done"; schema: SchemaField[]; rows: number; sha256: string; csvBytes: number }
  | { kind: "widen"; types: ColumnType[]; column: string; to: ColumnType };

/** Checks a header row: every name present and unique. */
export function checkHeader(header: string[]): string[] {
  const names = header.map((h) => h.trim());
  names.forEach((n, i) => {
    if (n === "") throw new LakehouseError("bad_request", `CSV header: column ${i + 1} has an empty name (every column needs a name in the header row)`);
  });
  const firstAt = new Map<string, number>();
  names.forEach((n, i) => {
    const prev = firstAt.get(n);
    if (prev !== undefined) {
      throw new LakehouseError("bad_request", `CSV header: duplicate column name ${JSON.stringify(n)} (columns ${prev + 1} and ${i + 1})`);
    }
    firstAt.set(n, i);
  });
  return names;
}

/**
 * Reads CSV bytes from `source` and writes Parquet bytes to `sink`.
 * Returns "widen" (and stops early) when a value does not fit the inferred types.
 */
export async function convertCsv(
  source: ReadableStream<Uint8Array>,
  sink: (bytes: Uint8Array) => Promise<void>,
  options: ConvertOptions,
): Promise<ConvertOutcome> {
  const digest = new crypto.DigestStream("SHA-256");
  const digestWriter = digest.getWriter();
  const decoder = new TextDecoder("utf-8");

  let names: string[] | undefined;
  let width = 0;
  let raw: string[][] = [];
  let buffered = 0;
  let total = 0;
  let types = options.types;
  const nullable: boolean[] = [];
  let out: ParquetStream | undefined;
  let error: LakehouseError | undefined;

  const parser = new CsvParser((fields, line) => {
    if (error) return;
    if (!names) {
      names = checkHeader(fields);
      width = names.length;
      raw = names.map(() => []);
      for (let i = 0; i < width; i++) nullable.push(false);
      return;
    }
    if (fields.length !== width) {
      error = new LakehouseError("bad_request", `CSV line ${line}: expected ${width} fields (as in the header), found ${fields.length}`);
      return;
    }
    for (let i = 0; i < width; i++) raw[i]!.push(fields[i]!);
    buffered++;
  }, options.limits);

  const firstGroup = Math.max(options.sampleRows, options.rowGroupRows);

  /** Converts and writes the first `count` buffered rows as one row group. */
  async function flushGroup(count: number): Promise<ConvertOutcome | undefined> {
    if (count === 0) return undefined;
    let group = raw;
    if (count < buffered) {
      group = raw.map((col) => col.slice(0, count));
      raw = raw.map((col) => col.slice(count));
    } else {
      raw = names!.map(() => []);
    }
    buffered -= count;
    if (!types) types = group.map((col) => inferColumn(col).type);
    if (!out) {
      const schema = names!.map((name, i) => ({ name, type: types![i]!, nullable: true }));
      out = new ParquetStream(schema, options.codec, sink, options.compressors);
    }
    const columns: unknown[][] = [];
    for (let i = 0; i < width; i++) {
      try {
        const { values, nulls } = convertColumn(group[i]!, types[i]!, i);
        if (nulls > 0) nullable[i] = true;
        columns.push(values);
      } catch (err) {
        if (err instanceof TypeMismatch) {
          const widened = [...types];
          widened[err.column] = err.to;
          return { kind: "widen", types: widened, column: names![err.column]!, to: err.to };
        }
        throw err;
      }
    }
    total += count;
    await out.writeGroup(columns);
    // A row group is seconds of CPU: give the thread back before the next one (under wrangler dev
    // every Worker shares one thread, and a big ingest would hold every other request meanwhile).
    await new Promise((resolve) => setTimeout(resolve, 0));
    return undefined;
  }

  const reader = source.getReader();
  let csvBytes = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      csvBytes += value.byteLength;
      const text = decoder.decode(value, { stream: true });
      digestWriter.write(value).catch(() => {});
      parser.push(text);
      if (error) throw error;
      while (buffered >= (out ? options.rowGroupRows : firstGroup)) {
        const w = await flushGroup(out ? options.rowGroupRows : firstGroup);
        if (w) {
          await reader.cancel().catch(() => {});
          return w;
        }
      }
    }
    parser.push(decoder.decode());
    parser.end();
    if (error) throw error;
    if (!names) throw new LakehouseError("bad_request", "CSV is empty: expected a header row and at least one data row");
    if (total + buffered === 0) throw new LakehouseError("bad_request", "CSV has a header row but no data rows");
    while (buffered > 0) {
      const w = await flushGroup(Math.min(buffered, out ? options.rowGroupRows : firstGroup));
      if (w) return w;
    }
    await out!.finish();
    await digestWriter.close();
    const sha256 = toHex(await digest.digest);
    const schema: SchemaField[] = names.map((name, i) => ({ name, type: types![i]!, nullable: nullable[i]! }));
    return { kind: "done", schema, rows: total, sha256, csvBytes };
  } catch (err) {
    await reader.cancel().catch(() => {});
    throw err;
  } finally {
    digestWriter.releaseLock();
  }
}
