// The CSV → Parquet pipeline (docs/ingest.md). The source is always an object in storage (a
// request body is first staged there), read as a byte stream, so a CSV larger than memory
// ingests: memory holds one row group. Bytes are tokenised without decoding (csv-bytes.ts),
// each field converted straight into a typed column buffer (numbers, dates and timestamps
// parsed from bytes, strings dictionary-encoded as they arrive, bytes.ts), and the buffers
// written as Parquet column chunks (parquet-encode.ts). A row group ends at
// [ingestd].row_group_rows rows or once its buffers pass [ingestd].row_group_bytes.
// Types are inferred over the first row group (at least [ingestd].sample_rows rows, at most
// row_group_bytes of CSV), whose bytes are kept and parsed again once the types are known;
// if a later value does not fit its column's type, the column widens (int64 → float64,
// date → timestamp, else → string) and the pass restarts from the top of the source with
// the wider schema (the partial output is discarded).
// What the query engine cannot load is refused while parsing (options.limits: columns,
// field and record bytes), so a file over them never becomes a dataset; bytes that are not
// UTF-8 are a 400 naming the line and column.

import { caseCollision, caseCollisionMessage, columnNameProblem } from "../../../shared/dataset";
import { LakehouseError } from "../../../shared/errors";
import { toHex } from "../../../shared/hash";
import type { ColumnType, SchemaField } from "../../../shared/types";
import {
  BIG,
  bigMicros,
  F_ALL,
  fits,
  parseBigInt,
  parseBoolBytes,
  parseDateBytes,
  parseFloatBytes,
  parseIntBytes,
  parseTimestampBytes,
  typeOfBits,
  validUtf8,
} from "./bytes";
import { ByteCsvTokenizer, type ParserLimits } from "./csv-bytes";
import {
  type ColumnData,
  K_BOOL,
  K_DATE,
  K_FLOAT,
  K_INT,
  K_STRING,
  K_TS,
  TypedParquetWriter,
} from "./parquet-encode";
import { concat } from "./reads";

export interface ConvertOptions {
  sampleRows: number;
  rowGroupRows: number;
  /** Bytes of column buffers that end a row group early ([ingestd].row_group_bytes). */
  rowGroupBytes?: number;
  codec: "SNAPPY" | "ZSTD" | "UNCOMPRESSED";
  compressors?: Record<string, (input: Uint8Array) => Uint8Array>;
  /** Types decided by an earlier pass (after a widening); otherwise inferred. */
  types?: ColumnType[];
  /** [ingestd].max_columns / max_field_bytes / max_row_bytes (none by default). */
  limits?: ParserLimits;
  /** An existing dataset's columns: its types are used when the header has exactly these names. */
  lend?: { names: readonly string[]; types: readonly ColumnType[] };
  /** Field texts read as null ([ingestd].null_strings); default [""]. */
  nullStrings?: readonly string[];
}

export type ConvertOutcome =
  | {
      kind: "done";
      schema: SchemaField[];
      rows: number;
      sha256: string;
      csvBytes: number;
      rowGroups: number;
    }
  | { kind: "widen"; types: ColumnType[]; column: string; to: ColumnType };

export const DEFAULT_ROW_GROUP_BYTES = 16 * 1024 * 1024;
const NO_BYTES = new Uint8Array(0);
/** Input gathered before each parse step. */
const PARSE_BYTES = 256 * 1024;

/**
 * Checks a header row: every name present, loadable and nameable by the SQL engine
 * (columnNameProblem: no NUL, at most MAX_COLUMN_NAME_BYTES, no reserved prefix) and unique
 * ignoring case (SQLite column names are case-insensitive).
 */
export function checkHeader(header: string[]): string[] {
  const names = header.map((h) => h.trim());
  names.forEach((n, i) => {
    if (n === "")
      throw new LakehouseError(
        "bad_request",
        `CSV header: column ${i + 1} has an empty name (every column needs a name in the header row)`,
      );
    const problem = columnNameProblem(n);
    if (problem) throw new LakehouseError("bad_request", `CSV header: column ${i + 1} ${problem}`);
  });
  const pair = caseCollision(names);
  if (pair) {
    const [a, b] = pair;
    if (names[a] === names[b])
      throw new LakehouseError(
        "bad_request",
        `CSV header: duplicate column name ${JSON.stringify(names[a])} (columns ${a + 1} and ${b + 1})`,
      );
    throw new LakehouseError("bad_request", `CSV header: ${caseCollisionMessage(names, pair)}`);
  }
  return names;
}

/** The type a column of `type` widens to for a value that does not fit it. */
function widenFor(
  type: ColumnType,
  b: Uint8Array,
  s: number,
  e: number,
  escaped: boolean,
): ColumnType {
  if (escaped) return "string";
  if (type === "int64" && !Number.isNaN(parseFloatBytes(b, s, e))) return "float64";
  if (type === "date" && !Number.isNaN(parseTimestampBytes(b, s, e))) return "timestamp";
  return "string";
}

const KIND: Record<ColumnType, number> = {
  int64: K_INT,
  float64: K_FLOAT,
  bool: K_BOOL,
  date: K_DATE,
  timestamp: K_TS,
  string: K_STRING,
};
/** Buffer bytes per row of a column (values + the validity byte); strings add their dictionary. */
const ROW_BYTES = [9, 9, 2, 5, 9, 5];

class Mismatch {
  constructor(
    readonly column: number,
    readonly to: ColumnType,
  ) {}
}

/** A string column's dictionary, built as values arrive: open addressing on an FNV-1a hash of the bytes. */
class StringDict {
  bytes = new Uint8Array(1 << 12);
  offsets = new Int32Array(1 << 10);
  count = 0;
  used = 0;
  private table = new Int32Array(1 << 10).fill(-1);
  private hashes = new Int32Array(1 << 9);

  /** Whether the last add() made a new entry. */
  added = false;

  /** The code of bytes [s, e) of b, added when new. */
  add(b: Uint8Array, s: number, e: number): number {
    let h = 0x811c9dc5 | 0;
    for (let k = s; k < e; k++) h = Math.imul(h ^ b[k]!, 0x01000193);
    const mask = this.table.length - 1;
    const len = e - s;
    const bytes = this.bytes;
    const offsets = this.offsets;
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      const code = this.table[slot]!;
      if (code < 0) break;
      if (this.hashes[code] !== h) continue;
      const o = offsets[code]!;
      if (offsets[code + 1]! - o !== len) continue;
      let same = true;
      for (let k = 0; k < len; k++) {
        if (bytes[o + k] !== b[s + k]) {
          same = false;
          break;
        }
      }
      if (same) {
        this.added = false;
        return code;
      }
    }
    this.added = true;
    return this.insert(b, s, e, h);
  }

  private insert(b: Uint8Array, s: number, e: number, h: number): number {
    const code = this.count++;
    const len = e - s;
    if (this.used + len > this.bytes.length) {
      let size = this.bytes.length * 2;
      while (size < this.used + len) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.bytes.subarray(0, this.used));
      this.bytes = next;
    }
    this.bytes.set(b.subarray(s, e), this.used);
    if (code + 2 > this.offsets.length) {
      const next = new Int32Array(this.offsets.length * 2);
      next.set(this.offsets);
      this.offsets = next;
    }
    this.offsets[code] = this.used;
    this.used += len;
    this.offsets[code + 1] = this.used;
    if (code >= this.hashes.length) {
      const next = new Int32Array(this.hashes.length * 2);
      next.set(this.hashes);
      this.hashes = next;
    }
    this.hashes[code] = h;
    if (this.count * 2 > this.table.length) this.rehash();
    else this.place(h, code);
    return code;
  }

  private place(h: number, code: number): void {
    const mask = this.table.length - 1;
    let slot = h & mask;
    while (this.table[slot]! >= 0) slot = (slot + 1) & mask;
    this.table[slot] = code;
  }

  private rehash(): void {
    this.table = new Int32Array(this.table.length * 2).fill(-1);
    for (let c = 0; c < this.count; c++) this.place(this.hashes[c]!, c);
  }
}

/** One row group's typed column buffers. */
class Group {
  rows = 0;
  cap: number;
  valid: Uint8Array[];
  f64: (Float64Array | undefined)[];
  big: (BigInt64Array | undefined)[];
  i32: (Int32Array | undefined)[];
  u8: (Uint8Array | undefined)[];
  dicts: (StringDict | undefined)[];
  nulls: Int32Array;
  /** Bytes of the dictionaries' entries (and their offsets and hash slots). */
  dictBytes = 0;
  readonly fixedRowBytes: number;

  constructor(
    readonly kinds: number[],
    maxRows: number,
  ) {
    const w = kinds.length;
    this.cap = Math.min(maxRows, 4096);
    this.valid = kinds.map(() => new Uint8Array(this.cap));
    this.f64 = kinds.map((k) =>
      k === K_INT || k === K_FLOAT || k === K_TS ? new Float64Array(this.cap) : undefined,
    );
    this.big = kinds.map(() => undefined);
    this.i32 = kinds.map((k) =>
      k === K_DATE || k === K_STRING ? new Int32Array(this.cap) : undefined,
    );
    this.u8 = kinds.map((k) => (k === K_BOOL ? new Uint8Array(this.cap) : undefined));
    this.dicts = kinds.map((k) => (k === K_STRING ? new StringDict() : undefined));
    this.nulls = new Int32Array(w);
    this.fixedRowBytes = kinds.reduce((a, k) => a + ROW_BYTES[k]!, 0);
  }

  /** Buffer bytes this group holds (as filled; capacity is at most twice it). */
  get bytes(): number {
    return this.rows * this.fixedRowBytes + this.dictBytes;
  }

  grow(): void {
    const cap = this.cap * 2;
    const g = <T extends { length: number; set(a: T): void }>(
      a: T | undefined,
      make: (n: number) => T,
    ): T | undefined => {
      if (!a) return undefined;
      const n = make(cap);
      n.set(a);
      return n;
    };
    this.valid = this.valid.map((a) => g(a, (n) => new Uint8Array(n))!);
    this.f64 = this.f64.map((a) => g(a, (n) => new Float64Array(n)));
    this.big = this.big.map((a) => g(a, (n) => new BigInt64Array(n)));
    this.i32 = this.i32.map((a) => g(a, (n) => new Int32Array(n)));
    this.u8 = this.u8.map((a) => g(a, (n) => new Uint8Array(n)));
    this.cap = cap;
  }

  /** A column of int64 got a value beyond 2^53: from now on it is held as bigints. */
  toBig(c: number): BigInt64Array {
    const f = this.f64[c]!;
    const big = new BigInt64Array(this.cap);
    for (let r = 0; r < this.rows; r++) if (this.valid[c]![r]) big[r] = BigInt(f[r]!);
    this.big[c] = big;
    return big;
  }

  columns(): ColumnData[] {
    return this.kinds.map((kind, c) => {
      const d = this.dicts[c];
      return {
        kind,
        valid: this.valid[c]!,
        nulls: this.nulls[c]!,
        f64: this.f64[c],
        big: this.big[c],
        i32: this.i32[c],
        u8: this.u8[c],
        dict: d ? { bytes: d.bytes, offsets: d.offsets, count: d.count } : undefined,
      };
    });
  }
}

/** A shim-able SHA-256 of the stream (crypto.DigestStream in workerd). */
function digester(): { write(b: Uint8Array): void; done(): Promise<string> } {
  const Digest = (
    crypto as unknown as {
      DigestStream: new (
        algorithm: string,
      ) => WritableStream<Uint8Array> & { digest: Promise<ArrayBuffer> };
    }
  ).DigestStream;
  const digest = new Digest("SHA-256");
  const w = digest.getWriter();
  return {
    write: (b) => void w.write(b).catch(() => {}),
    done: async () => {
      await w.close();
      w.releaseLock();
      return toHex(await digest.digest);
    },
  };
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
  const digest = digester();
  const tok = new ByteCsvTokenizer(options.limits);
  const rowGroupBytes = options.rowGroupBytes ?? DEFAULT_ROW_GROUP_BYTES;
  const sampleRows = Math.max(options.sampleRows, options.rowGroupRows);
  // The sampled CSV is held until it is parsed again: at most half a row group's budget.
  const sampleBytes = Math.max(64 * 1024, Math.floor(rowGroupBytes / 2));
  const nullStrings = (options.nullStrings ?? [""]).map((s) => new TextEncoder().encode(s));
  const nullEmpty = nullStrings.some((s) => s.length === 0);
  const nullOthers = nullStrings.filter((s) => s.length > 0);
  const isNull = (b: Uint8Array, s: number, e: number): boolean => {
    if (s === e) return nullEmpty;
    for (const n of nullOthers) {
      if (n.length !== e - s) continue;
      let k = 0;
      while (k < n.length && n[k] === b[s + k]) k++;
      if (k === n.length) return true;
    }
    return false;
  };

  let names: string[] | undefined;
  let width = 0;
  let types: ColumnType[] | undefined = options.types;
  let kinds: number[] = [];
  /** Per timestamp column, the bytes of the last value parsed. */
  let lastTs: Uint8Array[] = [];
  let nullable: boolean[] = [];
  // sampling state
  let bits: number[] = [];
  let seen: boolean[] = [];
  let sampled = 0;
  let sampleStartLine = 0;
  let group: Group | undefined;
  let writer: TypedParquetWriter | undefined;
  let total = 0;
  let rowGroups = 0;
  let csvBytes = 0;

  const badUtf8 = (c: number): LakehouseError =>
    new LakehouseError(
      "bad_request",
      `${tok.at(c + 1)}: invalid UTF-8 (the CSV must be UTF-8 encoded)`,
    );

  const readHeaderRecord = (): void => {
    const fields: string[] = [];
    const dec = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
    for (let k = 0; k < tok.nf; k++) {
      const e = tok.escaped[k] ? tok.unescape(k) : tok.ends[k]!;
      try {
        fields.push(dec.decode(tok.buf.subarray(tok.starts[k]!, e)));
      } catch {
        throw new LakehouseError(
          "bad_request",
          `CSV line ${tok.recLine}, column ${k + 1}: invalid UTF-8 in the header (the CSV must be UTF-8 encoded)`,
        );
      }
    }
    names = checkHeader(fields);
    tok.header = names;
    width = names.length;
    nullable = names.map(() => false);
    if (types && types.length !== width) types = undefined;
    const lend = options.lend;
    if (
      !types &&
      lend &&
      lend.names.length === width &&
      lend.names.every((n, i) => n === names![i])
    )
      types = [...lend.types];
    if (!types) {
      bits = names.map(() => F_ALL);
      seen = names.map(() => false);
      tok.keep = tok.pos;
      sampleStartLine = tok.line;
    } else start();
  };

  const start = (): void => {
    kinds = types!.map((t) => KIND[t]);
    lastTs = kinds.map(() => NO_BYTES);
    group = new Group(kinds, options.rowGroupRows);
    writer ??= new TypedParquetWriter(
      names!.map((name, i) => ({ name, type: types![i]!, nullable: true })),
      options.codec,
      sink,
      options.compressors,
    );
  };

  /** Ends the sample: decides the types and rewinds to parse the sampled rows again. */
  const endSample = (): void => {
    types = bits.map((b, c) => typeOfBits(b, seen[c]!));
    tok.pos = tok.keep;
    tok.line = sampleStartLine;
    tok.keep = -1;
    start();
  };

  const checkWidth = (): void => {
    if (tok.nf !== width)
      throw new LakehouseError(
        "bad_request",
        `CSV line ${tok.recLine}: expected ${width} fields (as in the header), found ${tok.nf}`,
      );
  };

  const sampleRecord = (): void => {
    checkWidth();
    const b = tok.buf;
    for (let c = 0; c < width; c++) {
      const s = tok.starts[c]!;
      const e = tok.ends[c]!;
      if (isNull(b, s, e)) continue;
      seen[c] = true;
      const have = bits[c]!;
      if (have === 0) continue;
      bits[c] = tok.escaped[c] ? 0 : fits(b, s, e, have);
    }
    sampled++;
  };

  /** Adds the record to the group; a Mismatch when a value does not fit its column. */
  const addRecord = (g: Group): Mismatch | undefined => {
    checkWidth();
    if (g.rows === g.cap) g.grow();
    const r = g.rows;
    const b = tok.buf;
    for (let c = 0; c < width; c++) {
      const s = tok.starts[c]!;
      let e = tok.ends[c]!;
      const valid = g.valid[c]!;
      if (isNull(b, s, e)) {
        valid[r] = 0;
        g.nulls[c]!++;
        continue;
      }
      valid[r] = 1;
      const esc = tok.escaped[c] === 1;
      switch (kinds[c]) {
        case K_STRING: {
          if (esc) e = tok.unescape(c);
          const d = g.dicts[c]!;
          g.i32[c]![r] = d.add(b, s, e);
          if (d.added) {
            g.dictBytes += e - s + 12;
            if (!validUtf8(b, s, e)) throw badUtf8(c);
          }
          break;
        }
        case K_INT: {
          const v = esc ? NaN : parseIntBytes(b, s, e);
          if (Number.isNaN(v)) return new Mismatch(c, widenFor(types![c]!, b, s, e, esc));
          const big = g.big[c];
          if (v === BIG || big)
            (big ?? g.toBig(c))[r] = v === BIG ? parseBigInt(b, s, e) : BigInt(v);
          else g.f64[c]![r] = v;
          break;
        }
        case K_FLOAT: {
          const v = esc ? NaN : parseFloatBytes(b, s, e);
          if (Number.isNaN(v)) return new Mismatch(c, "string");
          g.f64[c]![r] = v;
          break;
        }
        case K_TS: {
          // Sorted data repeats timestamps: the same bytes as the previous value reuse its parse.
          const len = e - s;
          const prev = lastTs[c]!;
          if (len > 0 && len === prev.length && !g.big[c] && r > 0 && g.valid[c]![r - 1]) {
            let k = 0;
            while (k < len && prev[k] === b[s + k]) k++;
            if (k === len) {
              g.f64[c]![r] = g.f64[c]![r - 1]!;
              break;
            }
          }
          const v = esc ? NaN : parseTimestampBytes(b, s, e);
          lastTs[c] = len <= 64 ? b.slice(s, e) : NO_BYTES;
          if (Number.isNaN(v)) return new Mismatch(c, "string");
          const big = g.big[c];
          if (v === BIG || big) (big ?? g.toBig(c))[r] = v === BIG ? bigMicros : BigInt(v);
          else g.f64[c]![r] = v;
          break;
        }
        case K_DATE: {
          const v = esc ? NaN : parseDateBytes(b, s, e);
          if (Number.isNaN(v)) return new Mismatch(c, widenFor("date", b, s, e, esc));
          g.i32[c]![r] = v;
          break;
        }
        case K_BOOL: {
          const v = esc ? -1 : parseBoolBytes(b, s, e);
          if (v < 0) return new Mismatch(c, "string");
          g.u8[c]![r] = v;
          break;
        }
      }
    }
    g.rows++;
    return undefined;
  };

  const flush = async (): Promise<void> => {
    const g = group!;
    if (g.rows === 0) return;
    for (let c = 0; c < width; c++) if (g.nulls[c]! > 0) nullable[c] = true;
    await writer!.writeGroup(g.columns(), g.rows);
    total += g.rows;
    rowGroups++;
    group = new Group(kinds, options.rowGroupRows);
    // A row group is CPU-heavy: give the thread back before the next one (under wrangler dev
    // every Worker shares one thread, and a big ingest would hold every other request meanwhile).
    await new Promise((resolve) => setTimeout(resolve, 0));
  };

  /** Parses what the buffer holds; returns a widening when one is needed. */
  const drain = async (atEnd: boolean): Promise<ConvertOutcome | undefined> => {
    for (;;) {
      if (!names) {
        if (!tok.next(atEnd)) return undefined;
        readHeaderRecord();
        continue;
      }
      if (!group) {
        // sampling
        while (tok.next(atEnd)) {
          sampleRecord();
          if (sampled >= sampleRows || tok.pos - tok.keep >= sampleBytes) break;
        }
        if (sampled >= sampleRows || tok.pos - tok.keep >= sampleBytes || atEnd) {
          endSample();
          continue;
        }
        return undefined;
      }
      const g = group;
      const limitRows = options.rowGroupRows;
      let full = false;
      while (tok.next(atEnd)) {
        const m = addRecord(g);
        if (m) {
          const widened = [...types!];
          widened[m.column] = m.to;
          return { kind: "widen", types: widened, column: names[m.column]!, to: m.to };
        }
        if (g.rows >= limitRows || g.bytes >= rowGroupBytes) {
          full = true;
          break;
        }
      }
      if (full) {
        await flush();
        continue;
      }
      return undefined;
    }
  };

  const reader = source.getReader();
  try {
    // Small chunks are gathered (parsed once per PARSE_BYTES): a stream of 4 KiB chunks would
    // otherwise cost a parse step and a digest write each.
    let pending = 0;
    const batch: Uint8Array[] = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (!done) {
        csvBytes += value.byteLength;
        tok.push(value);
        batch.push(value);
        pending += value.byteLength;
        if (pending < PARSE_BYTES) continue;
      }
      if (pending > 0) {
        digest.write(concat(batch, pending));
        batch.length = 0;
        pending = 0;
        const w = await drain(false);
        if (w) {
          await reader.cancel().catch(() => {});
          return w;
        }
      }
      if (done) break;
    }
    const w = await drain(true);
    if (w) return w;
    if (!names)
      throw new LakehouseError(
        "bad_request",
        "CSV is empty: expected a header row and at least one data row",
      );
    if (!group) endSample();
    await flush();
    if (total === 0)
      throw new LakehouseError("bad_request", "CSV has a header row but no data rows");
    await writer!.finish();
    const sha256 = await digest.done();
    const schema: SchemaField[] = names.map((name, i) => ({
      name,
      type: types![i]!,
      nullable: nullable[i]!,
    }));
    return { kind: "done", schema, rows: total, sha256, csvBytes, rowGroups };
  } catch (err) {
    await reader.cancel().catch(() => {});
    throw err;
  }
}
