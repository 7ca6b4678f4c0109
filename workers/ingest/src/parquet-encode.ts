// A minimal Parquet writer for typed column buffers (the ingest hot path, docs/ingest.md):
// each column chunk is written straight from typed arrays — RLE_DICTIONARY when a dictionary
// pays (strings come dictionary-encoded from the parser; numbers are tried with a bounded
// hash map), else PLAIN — in data pages v2 of about PAGE_BYTES, values Snappy-compressed,
// with min/max/null_count statistics. The footer is hyparquet-writer's own writeMetadata
// (the same FileMetaData the ParquetStream path writes, field ids included), so readers
// (hyparquet, DuckDB, shared/iceberg/data-file.ts) see the same shape either way.

import { ByteWriter } from "hyparquet-writer";
import { writePageHeader } from "hyparquet-writer/src/datapage.js";
import { writeMetadata } from "hyparquet-writer/src/metadata.js";
import { snappyCompress } from "hyparquet-writer/src/snappy.js";
import type { SchemaField } from "../../../shared/types";
import { type Codec, parquetSchema } from "./parquet-out";

export const K_INT = 0;
export const K_FLOAT = 1;
export const K_BOOL = 2;
export const K_DATE = 3;
export const K_TS = 4;
export const K_STRING = 5;

/** A string dictionary: entry i is bytes[offsets[i], offsets[i+1]). */
export interface Dict {
  bytes: Uint8Array;
  offsets: Int32Array;
  count: number;
}

/** One column of one row group, as the parser filled it. */
export interface ColumnData {
  kind: number;
  /** 1 where the row has a value. */
  valid: Uint8Array;
  nulls: number;
  /** int64 (|v| ≤ 2^53), float64, timestamp micros. */
  f64?: Float64Array;
  /** int64 or timestamp when some value is beyond 2^53. */
  big?: BigInt64Array;
  /** date days; string dictionary codes. */
  i32?: Int32Array;
  /** bool 0/1. */
  u8?: Uint8Array;
  dict?: Dict;
}

const PAGE_BYTES = 1 << 20;
/** Numeric columns try a dictionary of at most this many entries. */
const MAX_NUMERIC_DICT = 1 << 16;
/** A string dictionary is dropped for PLAIN when it has more entries than this share of the values and is big. */
const DICT_SHARE = 0.7;
const DICT_SMALL_BYTES = 256 * 1024;

/** A growable byte buffer. */
class Out {
  buf: Uint8Array;
  view: DataView;
  n = 0;
  constructor(size = 1 << 16) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }
  ensure(k: number): void {
    if (this.n + k <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.n + k) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  byte(v: number): void {
    this.ensure(1);
    this.buf[this.n++] = v;
  }
  varint(v: number): void {
    this.ensure(5);
    while (v > 0x7f) {
      this.buf[this.n++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.n++] = v;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }
  take(): Uint8Array {
    return this.buf.subarray(0, this.n);
  }
}

/** RLE / bit-packed hybrid of vals[start, end) at `width` bits (≤ 24), no length prefix. */
function rleHybrid(
  out: Out,
  vals: ArrayLike<number>,
  start: number,
  end: number,
  width: number,
): void {
  const bytesPerValue = (width + 7) >> 3;
  let i = start;
  let groupsStart = -1;
  let groups = 0;
  const flushGroups = () => {
    if (groups === 0) return;
    out.varint((groups << 1) | 1);
    out.ensure(groups * width + 8);
    const b = out.buf;
    let at = out.n;
    let acc = 0;
    let bits = 0;
    const last = groupsStart + groups * 8;
    for (let k = groupsStart; k < last; k++) {
      const v = k < end ? vals[k]! : 0;
      acc |= v << bits;
      bits += width;
      while (bits >= 8) {
        b[at++] = acc & 0xff;
        acc >>>= 8;
        bits -= 8;
      }
    }
    if (bits > 0) b[at++] = acc & 0xff;
    out.n = at;
    groups = 0;
  };
  while (i < end) {
    const v = vals[i]!;
    let run = 1;
    while (i + run < end && vals[i + run] === v) run++;
    if (run >= 8) {
      flushGroups();
      out.varint(run << 1);
      for (let j = 0; j < bytesPerValue; j++) out.byte((v >>> (8 * j)) & 0xff);
      i += run;
    } else {
      if (groups === 0) groupsStart = i;
      groups++;
      i += 8;
    }
  }
  flushGroups();
}

function bitWidth(maxValue: number): number {
  return maxValue <= 0 ? 0 : 32 - Math.clz32(maxValue);
}

function compare(
  a: Uint8Array,
  as: number,
  ae: number,
  b: Uint8Array,
  bs: number,
  be: number,
): number {
  const n = Math.min(ae - as, be - bs);
  for (let k = 0; k < n; k++) {
    const d = a[as + k]! - b[bs + k]!;
    if (d !== 0) return d;
  }
  return ae - as - (be - bs);
}

interface Chunk {
  meta_data: Record<string, unknown>;
  file_offset: bigint;
}

/** Writes Parquet files of typed row groups to a sink, row group by row group. */
export class TypedParquetWriter {
  private offset = 0;
  private readonly rowGroups: unknown[] = [];
  private readonly schema: ReturnType<typeof parquetSchema>;
  private numRows = 0;
  private readonly compress: (b: Uint8Array) => Uint8Array;

  constructor(
    private readonly fields: readonly SchemaField[],
    private readonly codec: Codec,
    private readonly sink: (bytes: Uint8Array) => Promise<void>,
    compressors?: Record<string, (input: Uint8Array) => Uint8Array>,
  ) {
    this.schema = parquetSchema(fields);
    this.compress =
      codec === "SNAPPY" ? snappyCompress : codec === "ZSTD" ? compressors!.ZSTD! : (b) => b;
  }

  get bytes(): number {
    return this.offset;
  }

  private async emit(bytes: Uint8Array): Promise<void> {
    this.offset += bytes.length;
    await this.sink(bytes);
  }

  async writeGroup(columns: ColumnData[], rows: number): Promise<void> {
    if (rows === 0) return;
    if (this.offset === 0) await this.emit(new Uint8Array([0x50, 0x41, 0x52, 0x31])); // PAR1
    const start = this.offset;
    const chunks: Chunk[] = [];
    let uncompressed = 0;
    for (let c = 0; c < columns.length; c++) {
      const { bytes, chunk, raw } = this.encodeColumn(columns[c]!, rows, this.fields[c]!.name);
      chunks.push(chunk);
      uncompressed += raw;
      await this.emit(bytes);
    }
    this.numRows += rows;
    this.rowGroups.push({
      columns: chunks,
      total_byte_size: BigInt(uncompressed),
      num_rows: BigInt(rows),
      file_offset: BigInt(start),
      total_compressed_size: BigInt(this.offset - start),
    });
  }

  async finish(): Promise<void> {
    const w = new ByteWriter(1 << 14);
    writeMetadata(w, {
      version: 2,
      created_by: "lakehouse-ingest (typed writer)",
      schema: this.schema,
      num_rows: BigInt(this.numRows),
      row_groups: this.rowGroups,
    } as never);
    w.appendUint32(0x31524150);
    if (this.offset === 0) await this.emit(new Uint8Array([0x50, 0x41, 0x52, 0x31]));
    await this.emit(w.getBytes().slice());
  }

  private encodeColumn(
    col: ColumnData,
    rows: number,
    name: string,
  ): { bytes: Uint8Array; chunk: Chunk; raw: number } {
    const present = rows - col.nulls;
    const out = new Out(1 << 16);
    const base = this.offset;
    let raw = 0;
    const type = this.schema.find((e) => e.name === name && e.type)!.type as string;
    // Non-null values, compacted, as codes into a dictionary or as PLAIN bytes per page.
    let codes: Int32Array | undefined;
    let dictPlain: Uint8Array | undefined;
    let dictCount = 0;
    let plainOf: ((from: number, to: number) => Uint8Array) | undefined; // values [from, to) of the compacted values
    let min: unknown;
    let max: unknown;
    const valid = col.valid;

    switch (col.kind) {
      case K_STRING: {
        const dict = col.dict!;
        const all = col.i32!;
        const c = new Int32Array(present);
        for (let i = 0, k = 0; i < rows; i++) if (valid[i]) c[k++] = all[i]!;
        const dictBytes = dict.offsets[dict.count]!;
        const useDict = dict.count <= DICT_SHARE * present || dictBytes <= DICT_SMALL_BYTES;
        // statistics over the entries (every entry is used by some row)
        let lo = -1;
        let hi = -1;
        const o = dict.offsets;
        const b = dict.bytes;
        for (let e = 0; e < dict.count; e++) {
          if (lo < 0 || compare(b, o[e]!, o[e + 1]!, b, o[lo]!, o[lo + 1]!) < 0) lo = e;
          if (hi < 0 || compare(b, o[e]!, o[e + 1]!, b, o[hi]!, o[hi + 1]!) > 0) hi = e;
        }
        if (lo >= 0) {
          min = b.slice(o[lo]!, o[lo + 1]!);
          max = b.slice(o[hi]!, o[hi + 1]!);
        }
        if (useDict) {
          codes = c;
          dictCount = dict.count;
          const p = new Out(dictBytes + 4 * dict.count + 16);
          for (let e = 0; e < dict.count; e++) {
            const len = o[e + 1]! - o[e]!;
            p.ensure(4 + len);
            p.view.setInt32(p.n, len, true);
            p.n += 4;
            p.buf.set(b.subarray(o[e]!, o[e + 1]!), p.n);
            p.n += len;
          }
          dictPlain = p.take();
        } else {
          plainOf = (from, to) => {
            let size = 0;
            for (let k = from; k < to; k++) size += 4 + o[c[k]! + 1]! - o[c[k]!]!;
            const p = new Uint8Array(size);
            const v = new DataView(p.buffer);
            let at = 0;
            for (let k = from; k < to; k++) {
              const s = o[c[k]!]!;
              const len = o[c[k]! + 1]! - s;
              v.setInt32(at, len, true);
              p.set(b.subarray(s, s + len), at + 4);
              at += 4 + len;
            }
            return p;
          };
        }
        break;
      }
      case K_BOOL: {
        const u = col.u8!;
        const vals = new Uint8Array(present);
        let t = 0;
        for (let i = 0, k = 0; i < rows; i++) if (valid[i]) t += vals[k++] = u[i]!;
        if (present > 0) {
          min = t === present;
          max = t > 0;
        }
        plainOf = (from, to) => {
          const p = new Uint8Array((to - from + 7) >> 3);
          for (let k = from; k < to; k++) if (vals[k]) p[(k - from) >> 3]! |= 1 << ((k - from) & 7);
          return p;
        };
        break;
      }
      default: {
        // int64 / float64 / timestamp (8 bytes) or date (4 bytes), PLAIN or dictionary of numbers
        const width = col.kind === K_DATE ? 4 : 8;
        const big = col.kind === K_INT || col.kind === K_TS ? col.big : undefined;
        const src: ArrayLike<number> | undefined = col.kind === K_DATE ? col.i32 : col.f64;
        let vals: Float64Array | Int32Array | BigInt64Array;
        if (big) {
          const v = new BigInt64Array(present);
          let lo = 0n;
          let hi = 0n;
          for (let i = 0, k = 0; i < rows; i++) {
            if (!valid[i]) continue;
            const x = big[i]!;
            if (k === 0 || x < lo) lo = x;
            if (k === 0 || x > hi) hi = x;
            v[k++] = x;
          }
          vals = v;
          if (present) {
            min = lo;
            max = hi;
          }
        } else {
          const v = col.kind === K_DATE ? new Int32Array(present) : new Float64Array(present);
          let lo = Infinity;
          let hi = -Infinity;
          for (let i = 0, k = 0; i < rows; i++) {
            if (!valid[i]) continue;
            const x = src![i]!;
            if (x < lo) lo = x;
            if (x > hi) hi = x;
            v[k++] = x;
          }
          vals = v;
          if (present) {
            min = col.kind === K_FLOAT && lo === 0 ? -0 : lo;
            max = col.kind === K_FLOAT && hi === 0 ? 0 : hi;
          }
        }
        // Try a dictionary (not for floats, which rarely repeat enough to pay).
        if (!big && col.kind !== K_FLOAT && present > 0) {
          const found = numberDictionary(
            vals as Float64Array | Int32Array,
            present,
            Math.min(MAX_NUMERIC_DICT, present >> 2),
          );
          if (found) {
            codes = found.codes;
            dictCount = found.count;
            const p = new Uint8Array(dictCount * width);
            const v = new DataView(p.buffer);
            for (let e = 0; e < dictCount; e++) putNumber(v, e * width, found.values[e]!, width);
            dictPlain = p;
          }
        }
        if (!codes) {
          plainOf = (from, to) => {
            const p = new Uint8Array((to - from) * width);
            const v = new DataView(p.buffer);
            if (big)
              for (let k = from; k < to; k++)
                v.setBigInt64((k - from) * 8, (vals as BigInt64Array)[k]!, true);
            else if (width === 4)
              for (let k = from; k < to; k++)
                v.setInt32((k - from) * 4, (vals as Int32Array)[k]!, true);
            else if (col.kind === K_FLOAT)
              for (let k = from; k < to; k++)
                v.setFloat64((k - from) * 8, (vals as Float64Array)[k]!, true);
            else
              for (let k = from; k < to; k++)
                putNumber(v, (k - from) * 8, (vals as Float64Array)[k]!, 8);
            return p;
          };
        }
      }
    }

    // Dictionary page.
    let dictionaryOffset: bigint | undefined;
    const encodings = ["RLE", "PLAIN"];
    if (codes && dictPlain) {
      dictionaryOffset = BigInt(base + out.n);
      const compressed = this.compress(dictPlain);
      this.pageHeader(out, {
        type: "DICTIONARY_PAGE",
        uncompressed_page_size: dictPlain.length,
        compressed_page_size: compressed.length,
        dictionary_page_header: { num_values: dictCount, encoding: "PLAIN" },
      });
      out.bytes(compressed);
      raw += dictPlain.length;
      encodings.push("RLE_DICTIONARY");
    }
    const dataOffset = BigInt(base + out.n);

    // Data pages of about PAGE_BYTES of values each.
    const perValue = codes
      ? 2
      : col.kind === K_STRING
        ? 16
        : col.kind === K_BOOL
          ? 1
          : col.kind === K_DATE
            ? 4
            : 8;
    const pageRows = Math.max(1024, Math.floor(PAGE_BYTES / perValue));
    const levels = new Out(1 << 12);
    const values = new Out(codes ? 1 << 14 : 16);
    const width = codes ? bitWidth(dictCount - 1) : 0;
    let k = 0; // compacted value index
    for (let r = 0; r < rows || (rows === 0 && r === 0); r += pageRows) {
      const end = Math.min(rows, r + pageRows);
      let nulls = 0;
      for (let i = r; i < end; i++) nulls += valid[i]! ^ 1;
      const count = end - r - nulls;
      levels.n = 0;
      rleHybrid(levels, valid, r, end, 1);
      let body: Uint8Array;
      if (codes) {
        values.n = 0;
        values.byte(width);
        rleHybrid(values, codes, k, k + count, width);
        body = values.take();
      } else body = plainOf!(k, k + count);
      k += count;
      const compressed = this.compress(body);
      this.pageHeader(out, {
        type: "DATA_PAGE_V2",
        uncompressed_page_size: levels.n + body.length,
        compressed_page_size: levels.n + compressed.length,
        data_page_header_v2: {
          num_values: end - r,
          num_nulls: nulls,
          num_rows: end - r,
          encoding: codes ? "RLE_DICTIONARY" : "PLAIN",
          definition_levels_byte_length: levels.n,
          repetition_levels_byte_length: 0,
          is_compressed: this.codec !== "UNCOMPRESSED",
        },
      });
      out.bytes(levels.take());
      out.bytes(compressed);
      raw += levels.n + body.length;
    }
    const bytes = out.take();
    return {
      bytes,
      raw,
      chunk: {
        meta_data: {
          type,
          encodings,
          path_in_schema: [name],
          codec: this.codec,
          num_values: BigInt(rows),
          total_uncompressed_size: BigInt(raw),
          total_compressed_size: BigInt(bytes.length),
          data_page_offset: dataOffset,
          dictionary_page_offset: dictionaryOffset,
          statistics: {
            null_count: BigInt(col.nulls),
            ...(min !== undefined ? { min_value: min, max_value: max } : {}),
          },
        },
        file_offset: BigInt(base),
      },
    };
  }

  private pageHeader(out: Out, header: Record<string, unknown>): void {
    const w = new ByteWriter(64);
    writePageHeader(w, header as never);
    out.bytes(w.getBytes());
  }
}

/**
 * Dictionary codes of integer-valued numbers (|v| ≤ 2^53), or undefined past `limit` distinct
 * values: open addressing on a hash of the value's two 32-bit halves (a Map costs ~3× more).
 */
function numberDictionary(
  vals: Float64Array | Int32Array,
  n: number,
  limit: number,
): { codes: Int32Array; values: Float64Array; count: number } | undefined {
  if (limit <= 0) return undefined;
  let size = 1024;
  while (size < limit * 2) size *= 2;
  const table = new Int32Array(size); // code + 1; 0 = empty
  const values = new Float64Array(limit);
  const codes = new Int32Array(n);
  const mask = size - 1;
  let count = 0;
  for (let k = 0; k < n; k++) {
    const x = vals[k]!;
    const hi = Math.floor(x / 4294967296);
    let slot = Math.imul((x - hi * 4294967296) ^ Math.imul(hi, 0x27d4eb2d), 0x9e3779b1) >>> 0;
    slot = (slot ^ (slot >>> 15)) & mask;
    for (;;) {
      const c = table[slot]!;
      if (c === 0) {
        if (count >= limit) return undefined;
        values[count] = x;
        table[slot] = ++count;
        codes[k] = count - 1;
        break;
      }
      if (values[c - 1] === x) {
        codes[k] = c - 1;
        break;
      }
      slot = (slot + 1) & mask;
    }
  }
  return { codes, values, count };
}

/** Writes an integer-valued number (|v| ≤ 2^53) as INT64, or an INT32, little-endian. */
function putNumber(v: DataView, at: number, x: number, width: number): void {
  if (width === 4) {
    v.setInt32(at, x, true);
    return;
  }
  const hi = Math.floor(x / 4294967296);
  v.setUint32(at, x - hi * 4294967296, true);
  v.setInt32(at + 4, hi, true);
}
