// A CSV tokeniser over bytes (RFC 4180), the ingest hot path: chunks of the stream are
// appended to one buffer of our own, and each call to next() finds one record and leaves
// its fields as byte ranges [starts[i], ends[i]) of `buf` — no string is made. Quoted
// fields may hold commas, "" escapes (escaped[i] = 1; unescape() rewrites them in place)
// and newlines. LF, CRLF and a lone CR all end a record (mixed endings are fine); blank
// lines are skipped; a leading UTF-8 BOM is dropped; a quote inside an unquoted field is
// literal. `line` is the 1-based physical line where the record starts.
// Limits ([ingestd].max_columns / max_field_bytes / max_row_bytes) are exact byte checks per
// field, and bound the buffer: a record still incomplete past them is refused as soon as a
// limit is provably passed, so one 100 MB line is never held (docs/hardening.md).
import { LakehouseError } from "../../../shared/errors";

export interface ParserLimits {
  /** Most fields in a record ([ingestd].max_columns). */
  maxColumns?: number;
  /** Largest field, UTF-8 bytes ([ingestd].max_field_bytes). */
  maxFieldBytes?: number;
  /** Largest record (sum of its fields), UTF-8 bytes ([ingestd].max_row_bytes). */
  maxRowBytes?: number;
}

const MIN_BUFFER = 1 << 20;

export class ByteCsvTokenizer {
  buf: Uint8Array = new Uint8Array(MIN_BUFFER);
  /** Bytes in buf. */
  len = 0;
  /** Start of the next record in buf. */
  pos = 0;
  /** Physical line of the record at pos. */
  line = 1;
  /** When ≥ 0, bytes from here on are kept (a sample to be parsed again). */
  keep = -1;
  /** Bytes of input dropped from the front of buf so far (buf[0] is input byte `dropped`). */
  dropped = 0;
  nf = 0;
  recLine = 1;
  starts: Int32Array;
  ends: Int32Array;
  escaped: Uint8Array;
  header: string[] | undefined;
  private first = true;
  private readonly maxColumns: number;
  private readonly maxField: number;
  private readonly maxRow: number;

  constructor(limits: ParserLimits = {}) {
    this.maxColumns = limits.maxColumns ?? 100_000;
    this.maxField = limits.maxFieldBytes ?? Infinity;
    this.maxRow = limits.maxRowBytes ?? Infinity;
    const slots = Math.min(this.maxColumns, 100_000) + 1;
    this.starts = new Int32Array(slots);
    this.ends = new Int32Array(slots);
    this.escaped = new Uint8Array(slots);
  }

  /** Appends a chunk (copied), dropping what is parsed and not kept. */
  push(chunk: Uint8Array): void {
    let c = chunk;
    if (this.first && c.length > 0) {
      this.first = false;
      if (c.length >= 3 && c[0] === 0xef && c[1] === 0xbb && c[2] === 0xbf) c = c.subarray(3);
    }
    if (this.len + c.length > this.buf.length) {
      const from = this.keep >= 0 ? Math.min(this.keep, this.pos) : this.pos;
      const live = this.len - from;
      let size = this.buf.length;
      while (live + c.length > size) size *= 2;
      // Shrink back once a large sample or record has been parsed.
      while (size > MIN_BUFFER && live + c.length <= size / 4) size /= 2;
      if (size === this.buf.length) this.buf.copyWithin(0, from, this.len);
      else {
        const next = new Uint8Array(size);
        next.set(this.buf.subarray(from, this.len), 0);
        this.buf = next;
      }
      this.len = live;
      this.pos -= from;
      if (this.keep >= 0) this.keep -= from;
      this.dropped += from;
    }
    this.buf.set(c, this.len);
    this.len += c.length;
  }

  private column(n: number, line: number): string {
    const name =
      line > 1 && this.header && n <= this.header.length
        ? ` (${JSON.stringify(this.header[n - 1]!.trim())})`
        : "";
    return `CSV line ${line}, column ${n}${name}`;
  }

  tooManyColumns(line: number): LakehouseError {
    return new LakehouseError(
      "bad_request",
      `${this.column(this.maxColumns + 1, line)}: more than ${this.maxColumns} columns ([ingestd].max_columns; Durable Object SQLite allows at most 100 columns per table)`,
    );
  }

  private fieldTooLong(n: number, line: number, what: string): LakehouseError {
    return new LakehouseError(
      "bad_request",
      `${this.column(n, line)}: field of ${what} bytes exceeds ${this.maxField} bytes ([ingestd].max_field_bytes; Durable Object SQLite stores at most 2 MB per value)`,
    );
  }

  private rowTooLong(n: number, line: number, what: string): LakehouseError {
    return new LakehouseError(
      "bad_request",
      `${this.column(n, line)}: record of ${what} bytes exceeds ${this.maxRow} bytes ([ingestd].max_row_bytes; Durable Object SQLite stores at most 2 MB per row)`,
    );
  }

  /** Error naming the line and column of a field, for callers. */
  at(n: number, line = this.recLine): string {
    return this.column(n, line);
  }

  /**
   * Parses the record at pos. True: its fields are in starts/ends (nf of them) and pos is
   * past it. False: the record is incomplete (push more, or call with atEnd) or, at the end,
   * there is none left.
   */
  next(atEnd: boolean): boolean {
    const b = this.buf;
    const end = this.len;
    for (;;) {
      let i = this.pos;
      if (i >= end) return false;
      let nf = 0;
      let nl = 0; // newlines inside quoted fields
      let row = 0;
      const line = this.line;
      for (;;) {
        const fs = i;
        let fe: number;
        let esc = 0;
        if (i < end && b[i] === 34) {
          let j = i + 1;
          for (;;) {
            while (j < end && b[j] !== 34) {
              if (b[j] === 10) nl++;
              j++;
            }
            if (j >= end || (j + 1 >= end && !atEnd)) {
              if (atEnd)
                throw new LakehouseError(
                  "bad_request",
                  `CSV line ${line}: unterminated quoted field (no closing '"' before the end of the file)`,
                );
              this.partial(nf, j - fs - 1 - esc, row, line);
              return false;
            }
            if (j + 1 < end && b[j + 1] === 34) {
              esc++;
              j += 2;
              continue;
            }
            break;
          }
          fe = j;
          i = j + 1;
          this.starts[nf] = fs + 1;
          this.ends[nf] = fe;
          this.escaped[nf] = esc > 0 ? 1 : 0;
          const c = i < end ? b[i] : -1;
          if (c !== 44 && c !== 10 && c !== 13 && c !== -1) {
            throw new LakehouseError(
              "bad_request",
              `CSV line ${line + nl}: unexpected character ${JSON.stringify(String.fromCharCode(c!))} after a closing quote in field ${nf + 1} (a quote inside a quoted field must be doubled: "")`,
            );
          }
        } else {
          while (i < end) {
            const c = b[i]!;
            if (c === 44 || c === 10 || c === 13) break;
            i++;
          }
          fe = i;
          this.starts[nf] = fs;
          this.ends[nf] = fe;
          this.escaped[nf] = 0;
        }
        const flen = fe - this.starts[nf]! - esc;
        nf++;
        if (i >= end && !atEnd) {
          this.partial(nf - 1, flen, row, line);
          return false;
        }
        if (flen > this.maxField) throw this.fieldTooLong(nf, line, String(flen));
        row += flen;
        if (row > this.maxRow) throw this.rowTooLong(nf, line, `at least ${row}`);
        if (i >= end) {
          this.pos = i;
          break;
        }
        const c = b[i]!;
        if (c === 44) {
          if (nf >= this.maxColumns) throw this.tooManyColumns(line);
          i++;
          continue;
        }
        if (c === 13) {
          if (i + 1 >= end && !atEnd) {
            this.partial(nf - 1, flen, row - flen, line);
            return false;
          }
          i += i + 1 < end && b[i + 1] === 10 ? 2 : 1;
        } else i++;
        this.pos = i;
        break;
      }
      this.line = line + nl + 1;
      // A blank line is no record.
      if (nf === 1 && this.ends[0] === this.starts[0] && b[this.starts[0]! - 1] !== 34) continue;
      this.nf = nf;
      this.recLine = line;
      return true;
    }
  }

  /** An incomplete record: refuse it now when a limit is already passed, else wait for more. */
  private partial(field: number, fieldLen: number, before: number, line: number): void {
    if (fieldLen > this.maxField)
      throw this.fieldTooLong(field + 1, line, `more than ${this.maxField}`);
    if (before + fieldLen > this.maxRow)
      throw this.rowTooLong(field + 1, line, `more than ${this.maxRow}`);
  }

  /** Rewrites the "" escapes of field k in place; returns its new end. */
  unescape(k: number): number {
    const b = this.buf;
    const s = this.starts[k]!;
    const e = this.ends[k]!;
    let w = s;
    for (let r = s; r < e; r++) {
      b[w++] = b[r]!;
      if (b[r] === 34) r++;
    }
    this.ends[k] = w;
    this.escaped[k] = 0;
    return w;
  }
}
