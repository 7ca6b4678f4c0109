// An Iceberg `data_file` record from a Parquet footer (hyparquet's FileMetaData): counts and
// sizes summed over row groups by field id, and lower/upper bounds from the column-chunk
// min/max statistics in Iceberg's single-value binary serialization (spec Appendix D).
//
// Bounds are only written when they are certainly valid: a bound may be looser than the data
// (that costs pruning, never correctness) but never tighter. So:
//  - a column whose row groups hold non-null values without min/max gets no bounds;
//  - strings: only bounds of at most 64 UTF-8 bytes; a Parquet min/max flagged inexact
//    (writers truncate long strings: a prefix as min, a rounded-up string as max — hyparquet-writer
//    does so above 16 bytes by default) is still a valid bound, but one that contains U+FFFD is
//    dropped (it may be a cut multi-byte character that hyparquet decoded lossily);
//  - timestamps are written in microseconds. Parquet MILLIS values are exact (×1000); MICROS
//    values decoded by hyparquet's default parsers are Dates cut to milliseconds, so the bound
//    is widened by up to a millisecond. Parse the footer with `PARQUET_STATS_PARSERS` to get
//    exact microsecond bounds;
//  - doubles: NaN is never a bound; a min of 0 is written as -0.0 and a max of 0 as +0.0;
//  - the deprecated Parquet `min`/`max` fields are used only when `min_value`/`max_value`
//    are absent, and never for strings (old writers ordered them as signed bytes).
// nan_value_counts is not written: hyparquet does not expose Parquet's nan_count.
import type { ColumnMetaData, FileMetaData, ParquetParsers, SchemaElement } from "hyparquet";
import type { ColumnType, SchemaField } from "../types";
import type { ColumnBounds, ColumnMetric, DataFile } from "./manifest";

/** The longest string bound written, in UTF-8 bytes. */
export const MAX_STRING_BOUND_BYTES = 64;

/**
 * Parsers for `parquetMetadataAsync(file, { parsers: PARQUET_STATS_PARSERS })` that keep
 * timestamp statistics as raw bigints in the column's unit, so bounds are exact to the
 * microsecond. (They only change how statistics are decoded; data reads take their own parsers.)
 */
export const PARQUET_STATS_PARSERS: Partial<ParquetParsers> = {
  timestampFromMilliseconds: (v: bigint) => v,
  timestampFromMicroseconds: (v: bigint) => v,
  timestampFromNanoseconds: (v: bigint) => v,
  dateFromDays: (v: number) => v,
};

export interface DataFileFromParquetOptions {
  /** The data file's full URI, `s3://<bucket>/<key>`. */
  path: string;
  /** The object's size in bytes. */
  fileSize: number;
  /** The table schema; column i has field id i + 1. Parquet columns are matched by name. */
  schema: readonly SchemaField[];
}

type TsUnit = "MILLIS" | "MICROS" | "NANOS";

interface Column {
  fieldId: number;
  field: SchemaField;
  unit?: TsUnit;
}

const utf8 = new TextEncoder();

function toNumber(v: bigint | number, what: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new RangeError(`iceberg: ${what} ${v} is not a safe integer`);
  return n;
}

function timestampUnit(el: SchemaElement): TsUnit | undefined {
  const lt = el.logical_type;
  if (lt?.type === "TIMESTAMP") return lt.unit;
  if (el.converted_type === "TIMESTAMP_MILLIS") return "MILLIS";
  if (el.converted_type === "TIMESTAMP_MICROS") return "MICROS";
  return undefined;
}

/**
 * Checks that the Parquet leaf can be read as the Iceberg type of the column (and, when the file
 * carries field ids, that the id is the column's); throws otherwise.
 */
function checkLeaf(el: SchemaElement, col: Column, path: string): TsUnit | undefined {
  const { field, fieldId } = col;
  const unit = timestampUnit(el);
  const bad = (why: string) =>
    new Error(
      `iceberg: ${path}: Parquet column "${field.name}" (${el.type}${unit ? ` TIMESTAMP ${unit}` : ""}) cannot be read as ${field.type}: ${why}`,
    );
  if (el.field_id !== undefined && el.field_id !== fieldId)
    throw bad(`its field_id is ${el.field_id}, the table's field id is ${fieldId}`);
  if (el.repetition_type === "REPEATED") throw bad("repeated columns are not supported");
  const want: Record<ColumnType, string> = {
    int64: "INT64",
    float64: "DOUBLE",
    bool: "BOOLEAN",
    date: "INT32",
    timestamp: "INT64",
    string: "BYTE_ARRAY",
  };
  if (el.type !== want[field.type]) throw bad(`expected ${want[field.type]}`);
  if (field.type === "date" && el.converted_type !== "DATE" && el.logical_type?.type !== "DATE")
    throw bad("expected a DATE logical type");
  if (field.type === "timestamp") {
    if (!unit) throw bad("expected a TIMESTAMP logical type");
    if (unit === "NANOS") throw bad("nanosecond timestamps are not timestamptz in a v2 table");
    return unit;
  }
  if (field.type === "int64" && unit) throw bad("a timestamp column is not a long");
  return undefined;
}

// Comparable values per type: bigint (long, timestamptz in micros), number (double, date in days),
// boolean, Uint8Array (string, UTF-8 byte order = code point order).
type Bound = bigint | number | boolean | Uint8Array;

function compare(a: Bound, b: Bound): number {
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
    return a.length - b.length;
  }
  if (typeof a === "number" && typeof b === "number" && a === 0 && b === 0) {
    return (Object.is(a, -0) ? -1 : 1) - (Object.is(b, -0) ? -1 : 1); // -0.0 before +0.0
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

const floorDiv = (a: bigint, b: bigint) => (a >= 0n ? a / b : -((-a + b - 1n) / b));
const ceilDiv = (a: bigint, b: bigint) => -floorDiv(-a, b);

/** One row group's bound for a column, or undefined when no valid bound can be derived. */
function bound(
  value: unknown,
  exact: boolean | undefined,
  col: Column,
  upper: boolean,
): Bound | undefined {
  if (value === undefined || value === null) return undefined;
  switch (col.field.type) {
    case "int64":
      return typeof value === "bigint"
        ? value
        : typeof value === "number" && Number.isSafeInteger(value)
          ? BigInt(value)
          : undefined;
    case "float64":
      if (typeof value !== "number" || Number.isNaN(value)) return undefined;
      if (value === 0) return upper ? 0 : -0;
      return value;
    case "bool":
      return typeof value === "boolean" ? value : undefined;
    case "date":
      // Raw days (PARQUET_STATS_PARSERS), or a Date at midnight UTC (hyparquet's default parser).
      if (typeof value === "number") return Number.isInteger(value) ? value : undefined;
      if (value instanceof Date) {
        const t = value.getTime();
        return Number.isFinite(t) ? Math.floor(t / 86_400_000) : undefined;
      }
      return undefined;
    case "string": {
      if (typeof value !== "string") return undefined;
      if (exact === false && value.includes("\uFFFD")) return undefined;
      return utf8.encode(value);
    }
    case "timestamp": {
      const unit = col.unit!;
      if (typeof value === "bigint") {
        // Raw value in the column's unit (PARQUET_STATS_PARSERS).
        if (unit === "MILLIS") return value * 1000n;
        if (unit === "MICROS") return value;
        return upper ? ceilDiv(value, 1000n) : floorDiv(value, 1000n);
      }
      if (value instanceof Date) {
        const t = value.getTime();
        if (!Number.isFinite(t)) return undefined;
        const ms = BigInt(t);
        if (unit === "MILLIS") return ms * 1000n;
        // hyparquet's default parsers cut MICROS/NANOS toward zero to whole milliseconds:
        // the true value lies strictly within one millisecond of ms, on the side away from 0.
        if (upper) return ms >= 0n ? (ms + 1n) * 1000n - 1n : ms * 1000n;
        return ms <= 0n ? (ms - 1n) * 1000n + 1n : ms * 1000n;
      }
      return undefined;
    }
  }
}

function serialize(type: ColumnType, b: Bound): Uint8Array | undefined {
  switch (type) {
    case "int64":
    case "timestamp": {
      const out = new Uint8Array(8);
      new DataView(out.buffer).setBigInt64(0, b as bigint, true);
      return out;
    }
    case "float64": {
      const out = new Uint8Array(8);
      new DataView(out.buffer).setFloat64(0, b as number, true);
      return out;
    }
    case "bool":
      return new Uint8Array([b ? 1 : 0]);
    case "date": {
      // Iceberg: a date is 4-byte little-endian days since 1970-01-01.
      const out = new Uint8Array(4);
      new DataView(out.buffer).setInt32(0, b as number, true);
      return out;
    }
    case "string":
      return (b as Uint8Array).length <= MAX_STRING_BOUND_BYTES ? (b as Uint8Array) : undefined;
  }
}

interface Acc {
  size: bigint;
  values: bigint;
  nulls: bigint | undefined;
  lower: Bound | undefined;
  upper: Bound | undefined;
  /** false once a row group with non-null values gave no usable min (or max). */
  lowerOk: boolean;
  upperOk: boolean;
}

/**
 * The `data_file` record of one Parquet data file (content 0, format PARQUET, unpartitioned).
 * Throws when a column of `schema` is stored with a Parquet type that Iceberg would not read as
 * the column's type. A schema column missing from the file gets no metrics (readers return null).
 */
export function dataFileFromParquet(
  metadata: FileMetaData,
  opts: DataFileFromParquetOptions,
): DataFile {
  const byName = new Map<string, Column>();
  for (const [i, field] of opts.schema.entries()) byName.set(field.name, { fieldId: i + 1, field });

  // Leaves directly under the root (our files are flat); nested groups are skipped whole.
  const elements = metadata.schema;
  const leaves = new Map<string, SchemaElement>();
  let i = 1;
  for (let c = 0; c < (elements[0]?.num_children ?? 0) && i < elements.length; c++) {
    const el = elements[i]!;
    if (!el.num_children) {
      leaves.set(el.name, el);
      i++;
      continue;
    }
    let pending = 1;
    while (pending > 0 && i < elements.length) pending += (elements[i++]!.num_children ?? 0) - 1;
  }
  for (const [name, col] of byName) {
    const el = leaves.get(name);
    if (el) col.unit = checkLeaf(el, col, opts.path);
  }

  const acc = new Map<number, Acc>();
  const splitOffsets: bigint[] = [];
  for (const rg of metadata.row_groups) {
    let start: bigint | undefined;
    for (const chunk of rg.columns) {
      const md: ColumnMetaData | undefined = chunk.meta_data;
      if (!md) continue;
      const first = md.dictionary_page_offset ?? md.data_page_offset;
      if (start === undefined || first < start) start = first;
      if (md.path_in_schema.length !== 1) continue;
      const col = byName.get(md.path_in_schema[0]!);
      if (!col || !leaves.has(col.field.name)) continue;
      let a = acc.get(col.fieldId);
      if (!a) {
        a = {
          size: 0n,
          values: 0n,
          nulls: 0n,
          lower: undefined,
          upper: undefined,
          lowerOk: true,
          upperOk: true,
        };
        acc.set(col.fieldId, a);
      }
      a.size += md.total_compressed_size;
      a.values += md.num_values;
      const st = md.statistics;
      const nulls = st?.null_count;
      if (a.nulls !== undefined) a.nulls = nulls === undefined ? undefined : a.nulls + nulls;
      // A chunk of only nulls has no min/max and needs none.
      const allNull = nulls !== undefined && nulls === md.num_values;
      if (allNull) continue;
      const legacyOk = col.field.type !== "string";
      const minRaw = st?.min_value !== undefined ? st.min_value : legacyOk ? st?.min : undefined;
      const maxRaw = st?.max_value !== undefined ? st.max_value : legacyOk ? st?.max : undefined;
      const lo = bound(
        minRaw,
        st?.min_value !== undefined ? st.is_min_value_exact : undefined,
        col,
        false,
      );
      const hi = bound(
        maxRaw,
        st?.max_value !== undefined ? st.is_max_value_exact : undefined,
        col,
        true,
      );
      if (lo === undefined) a.lowerOk = false;
      else if (a.lower === undefined || compare(lo, a.lower) < 0) a.lower = lo;
      if (hi === undefined) a.upperOk = false;
      else if (a.upper === undefined || compare(hi, a.upper) > 0) a.upper = hi;
    }
    if (start !== undefined) splitOffsets.push(start);
  }

  const columnSizes: ColumnMetric = {};
  const valueCounts: ColumnMetric = {};
  const nullCounts: ColumnMetric = {};
  const lower: ColumnBounds = {};
  const upper: ColumnBounds = {};
  const ids = [...acc.keys()].sort((x, y) => x - y);
  for (const id of ids) {
    const a = acc.get(id)!;
    const type = opts.schema[id - 1]!.type;
    columnSizes[id] = toNumber(a.size, "column size");
    valueCounts[id] = toNumber(a.values, "value count");
    if (a.nulls !== undefined) nullCounts[id] = toNumber(a.nulls, "null count");
    if (a.lowerOk && a.lower !== undefined) {
      const b = serialize(type, a.lower);
      if (b) lower[id] = b;
    }
    if (a.upperOk && a.upper !== undefined) {
      const b = serialize(type, a.upper);
      if (b) upper[id] = b;
    }
  }
  splitOffsets.sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));

  return {
    content: 0,
    file_path: opts.path,
    file_format: "PARQUET",
    record_count: toNumber(metadata.num_rows, "record count"),
    file_size_in_bytes: toNumber(opts.fileSize, "file size"),
    column_sizes: columnSizes,
    value_counts: valueCounts,
    null_value_counts: nullCounts,
    lower_bounds: lower,
    upper_bounds: upper,
    split_offsets: splitOffsets.map((o) => toNumber(o, "split offset")),
    sort_order_id: 0,
  };
}

/** Decodes a bound written by dataFileFromParquet back to a value (timestamps in microseconds). */
export function decodeBound(
  type: ColumnType,
  bytes: Uint8Array,
): bigint | number | boolean | string {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (type) {
    case "int64":
    case "timestamp":
      return view.getBigInt64(0, true);
    case "float64":
      return view.getFloat64(0, true);
    case "bool":
      return bytes[0] !== 0;
    case "date":
      return view.getInt32(0, true);
    case "string":
      return new TextDecoder().decode(bytes);
  }
}
