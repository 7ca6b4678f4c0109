// Parquet (in R2) → a SQLite table in the engine's Durable Object. Reads each object's
// footer, then one row group at a time by byte ranges (hyparquet over R2 range gets),
// and inserts rows in batches through json_each (one bound JSON text per batch: far
// fewer SQLite calls than a row-at-a-time INSERT). Peak memory is about one row group.

import { decompress as zstdDecompress } from "fzstd";
import { type AsyncBuffer, type Compressors, parquetMetadataAsync, parquetRead } from "hyparquet";
import type { ColumnType, Manifest, SchemaField } from "../../../shared/types";

export const SQL_TYPE: Record<ColumnType, string> = {
  int64: "BIGINT",
  float64: "DOUBLE",
  bool: "BOOLEAN",
  date: "DATE",
  timestamp: "TIMESTAMP",
  string: "VARCHAR",
};

const COMPRESSORS: Compressors = {
  ZSTD: (input, outputLength) => zstdDecompress(input, new Uint8Array(outputLength)),
};

const BATCH_ROWS = 4000;
/** One bound JSON text per batch stays well under SQLite's string / row size limit (2 MB in Durable Objects). */
const BATCH_CHARS = 512 * 1024;
/** Durable Object SQLite's column limit per table (plain SQLite's is 2000). */
export const MAX_COLUMNS = 100;
/** Durable Object SQLite's largest string, BLOB or row. */
export const MAX_ROW_BYTES = 2_000_000;

function timestampText(ms: number): string | null {
  return Number.isFinite(ms) ? formatTimestamp(new Date(ms)) : null;
}

/**
 * The text of a timestamp in microseconds since the epoch: whole seconds and whole milliseconds
 * as `formatTimestamp` writes them, anything finer with six digits (`…:09.250001`), so values
 * that differ by a microsecond stay distinct, print exactly and still sort as text.
 */
export function timestampTextMicros(micros: bigint): string | null {
  let ms = micros / 1000n;
  let us = micros % 1000n;
  if (us < 0n) {
    us += 1000n;
    ms -= 1n;
  }
  const d = new Date(Number(ms));
  if (Number.isNaN(d.getTime())) return null;
  if (us === 0n) return formatTimestamp(d);
  const iso = d.toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${iso.slice(20, 23)}${String(us).padStart(3, "0")}`;
}

/** The floor of a / b for bigints (BigInt division truncates toward zero). */
function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b < 0n ? q - 1n : q;
}

/** Timestamps become SQLite-friendly text right in the decoder (once per dictionary entry), to the microsecond. */
const PARSERS = {
  timestampFromMilliseconds: (v: bigint) => timestampText(Number(v)),
  timestampFromMicroseconds: (v: bigint) => timestampTextMicros(v),
  timestampFromNanoseconds: (v: bigint) => timestampTextMicros(floorDiv(v, 1000n)),
  // Parquet DATE (INT32 days since the epoch) → `YYYY-MM-DD`: sorts as text, SQLite date functions read it
  dateFromDays: (days: number) => dateText(days),
};

/** `YYYY-MM-DD` of a day number (days since 1970-01-01; years 0000–9999 as SQLite's date functions read them). */
export function dateText(days: number): string | null {
  const ms = days * 86_400_000;
  if (!Number.isFinite(ms)) return null;
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return null;
  const y = d.getUTCFullYear();
  if (y < 0 || y > 9999) return null;
  return `${String(y).padStart(4, "0")}-${String(d.getUTCMonth() + 1).padStart(2, "0")}-${String(d.getUTCDate()).padStart(2, "0")}`;
}

/** One row group's values of a column, as JSON-ready values indexed from the group's first row. */
function columnValues(
  parts: { start: number; data: ArrayLike<unknown> }[],
  groupStart: number,
  groupRows: number,
  name: string,
): ArrayLike<unknown> {
  const whole =
    parts.length === 1 && parts[0]!.start === groupStart && parts[0]!.data.length >= groupRows
      ? parts[0]!.data
      : null;
  let out: unknown[];
  if (
    whole &&
    (whole instanceof Float64Array || whole instanceof Float32Array || whole instanceof Int32Array)
  ) {
    out = Array.from(whole as ArrayLike<number>, (v) => (Number.isFinite(v) ? v : null));
  } else {
    out = new Array(groupRows).fill(null);
    for (const part of parts) {
      for (let i = 0; i < part.data.length; i++) {
        const r = part.start + i - groupStart;
        if (r >= 0 && r < groupRows) out[r] = part.data[i];
      }
    }
    let filled = 0;
    for (const part of parts) filled += part.data.length;
    if (filled < groupRows)
      throw new Error(`column ${name}: decoded ${filled} of ${groupRows} rows`);
    for (let i = 0; i < out.length; i++) {
      const v = out[i];
      if (typeof v !== "string" && (typeof v !== "number" || !Number.isFinite(v)))
        out[i] = convert(v);
    }
  }
  return out;
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** An AsyncBuffer over one R2 object: every slice is a ranged GET. */
export function r2Buffer(bucket: R2Bucket, key: string, byteLength: number): AsyncBuffer {
  return {
    byteLength,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const stop = end ?? byteLength;
      const obj = await bucket.get(key, { range: { offset: start, length: stop - start } });
      if (!obj) throw new Error(`object ${key} is missing from the LAKE bucket`);
      return obj.arrayBuffer();
    },
  };
}

/**
 * `2024-03-05 07:08:09` or `2024-03-05 07:08:09.250` (UTC): sorts as text, SQLite date functions
 * read it (a Date holds milliseconds; timestampTextMicros adds `…250001` for finer values).
 */
export function formatTimestamp(d: Date): string {
  const iso = d.toISOString(); // 2024-03-05T07:08:09.250Z
  const ms = iso.slice(20, 23);
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${ms === "000" ? "" : `.${ms}`}`;
}

function convert(v: unknown): unknown {
  switch (typeof v) {
    case "bigint":
      // exact as a number when safe; otherwise as decimal text, which a BIGINT column turns back into an integer
      return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v.toString();
    case "number":
      return Number.isFinite(v) ? v : null;
    case "object":
      if (v === null) return null;
      if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : formatTimestamp(v);
      if (v instanceof Uint8Array) return new TextDecoder().decode(v);
      return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x));
    default:
      return v;
  }
}

export interface LoadStats {
  rows: number;
  row_groups: number;
  objects: number;
  bytes_read: number;
  /**
   * The size estimate the engine budgets with ([queryd].local_cache_mb): the length of the
   * JSON text of every row inserted (UTF-16 code units: bytes for ASCII text; numbers as
   * their decimal text). SQLite's own pages differ by a small factor either way.
   */
  bytes: number;
}

/** What a load reads: a manifest, or part of one (an append's new objects). */
export type LoadSource = Pick<Manifest, "name" | "schema" | "objects">;

/**
 * Creates `table` (which must not exist) with `schema`'s columns, in order, typed as the
 * engine stores them; refuses what Durable Object SQLite cannot hold.
 */
export function createTable(
  sql: SqlStorage,
  table: string,
  schema: SchemaField[],
  dataset: string,
): void {
  if (schema.length === 0) throw new Error(`dataset ${dataset} has an empty schema`);
  if (schema.length > MAX_COLUMNS)
    throw new Error(
      `it has ${schema.length} columns; Durable Object SQLite holds at most ${MAX_COLUMNS} per table`,
    );
  const seen = new Map<string, string>();
  for (const f of schema) {
    const other = seen.get(f.name.toLowerCase());
    if (other !== undefined)
      throw new Error(
        `columns ${JSON.stringify(other)} and ${JSON.stringify(f.name)} differ only in case; SQLite column names are case-insensitive`,
      );
    seen.set(f.name.toLowerCase(), f.name);
  }
  const cols = schema
    .map((f) => `${quoteIdent(f.name)} ${SQL_TYPE[f.type] ?? "VARCHAR"}`)
    .join(", ");
  sql.exec(`CREATE TABLE ${quoteIdent(table)} (${cols})`);
}

/**
 * Creates `table` (which must not exist) with the manifest's schema and fills it from
 * the manifest's Parquet objects, in order. The caller swaps it in under the dataset's name
 * (a full load) or merges it into the dataset's table (an append: only the new objects).
 */
export async function loadDataset(
  sql: SqlStorage,
  bucket: R2Bucket,
  manifest: LoadSource,
  table: string,
): Promise<LoadStats> {
  const schema: SchemaField[] = manifest.schema;
  createTable(sql, table, schema, manifest.name);
  const extract = schema.map((_f, i) => `value->>${i}`).join(", ");
  const insert = `INSERT INTO ${quoteIdent(table)} SELECT ${extract} FROM json_each(?)`;
  const names = schema.map((f) => f.name);
  const stats: LoadStats = { rows: 0, row_groups: 0, objects: 0, bytes_read: 0, bytes: 0 };
  for (const object of manifest.objects) {
    const counting = r2Buffer(bucket, object.key, object.size);
    const file: AsyncBuffer = {
      byteLength: counting.byteLength,
      slice: (s, e) => {
        stats.bytes_read += (e ?? counting.byteLength) - s;
        return counting.slice(s, e);
      },
    };
    const metadata = await parquetMetadataAsync(file);
    const fileColumns = new Set(metadata.schema.slice(1).map((s) => s.name));
    const missing = names.filter((n) => !fileColumns.has(n));
    if (missing.length)
      throw new Error(
        `object ${object.key} lacks column(s) ${missing.join(", ")} of dataset ${manifest.name}`,
      );
    let groupStart = 0;
    for (const rg of metadata.row_groups) {
      const groupRows = Number(rg.num_rows);
      // Column-wise: hyparquet hands over each decoded column chunk; no row objects are
      // assembled, and timestamps are formatted once per dictionary value by the parser.
      const chunks = new Map<string, { start: number; data: ArrayLike<unknown> }[]>();
      await parquetRead({
        file,
        metadata,
        columns: names,
        rowStart: groupStart,
        rowEnd: groupStart + groupRows,
        compressors: COMPRESSORS,
        parsers: PARSERS,
        onChunk: (chunk) => {
          const list = chunks.get(chunk.columnName) ?? [];
          list.push({ start: chunk.rowStart, data: chunk.columnData as ArrayLike<unknown> });
          chunks.set(chunk.columnName, list);
        },
      });
      const columns = names.map((name) =>
        columnValues(chunks.get(name) ?? [], groupStart, groupRows, name),
      );
      chunks.clear();
      // Batches of at most BATCH_ROWS rows and about BATCH_CHARS of JSON; a single row past
      // the engine's row size is refused by name. Between batches the load yields, so queries
      // on other datasets (and other replicas, which share the thread locally) are not held.
      let parts: string[] = [];
      let chars = 0;
      const flush = async () => {
        if (parts.length === 0) return;
        sql.exec(insert, `[${parts.join(",")}]`);
        parts = [];
        chars = 0;
        await new Promise((resolve) => setTimeout(resolve, 0));
      };
      for (let r = 0; r < groupRows; r++) {
        const row = new Array(columns.length);
        for (let c = 0; c < columns.length; c++) row[c] = columns[c]![r];
        const json = JSON.stringify(row);
        if (json.length > MAX_ROW_BYTES) {
          let widest = 0;
          for (let c = 1; c < columns.length; c++)
            if (JSON.stringify(row[c] ?? null).length > JSON.stringify(row[widest] ?? null).length)
              widest = c;
          throw new Error(
            `row ${stats.rows + r + 1} is about ${json.length} bytes (column ${JSON.stringify(names[widest])}); the engine holds rows up to ${MAX_ROW_BYTES} bytes`,
          );
        }
        if (parts.length >= BATCH_ROWS || (parts.length > 0 && chars + json.length > BATCH_CHARS))
          await flush();
        parts.push(json);
        chars += json.length + 1;
        stats.bytes += json.length;
      }
      await flush();
      stats.rows += groupRows;
      stats.row_groups++;
      groupStart += groupRows;
    }
    stats.objects++;
  }
  return stats;
}
