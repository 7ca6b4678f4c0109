// A streaming CSV parser (RFC 4180) tuned for throughput. Text arrives in chunks of any
// size; complete records are handed to `onRecord(fields, line)` as they are found.
// Fast path: a physical line with no '"' is split on ',' natively. Slow path: a record
// with quotes is scanned field by field (quoted fields may hold commas, "" escapes and
// newlines, and so span chunks). CRLF and LF both end records; blank lines are skipped;
// a leading BOM is dropped. `line` is the 1-based physical line where a record starts.
// Limits (ParserLimits, from [ingestd].max_columns / max_field_bytes / max_row_bytes): a
// record with more fields, a field or a record longer in UTF-8 bytes is a 400 naming the
// line, the column and the key. They cost one length comparison per record: only a record
// longer than min(field, row limit) / 3 characters is measured exactly. They also bound what
// is buffered for an incomplete record: once the buffer passes the limit it is scanned
// (geometrically less often as it grows) and refused as soon as a limit is provably passed,
// so one 100 MB line never sits in memory.
import { LakehouseError } from "../../../shared/errors";
import { utf8Length } from "../../../shared/json-limits";

export type RecordSink = (fields: string[], line: number) => void;

export interface ParserLimits {
  /** Most fields in a record ([ingestd].max_columns). */
  maxColumns?: number;
  /** Largest field, UTF-8 bytes ([ingestd].max_field_bytes). */
  maxFieldBytes?: number;
  /** Largest record (sum of its fields), UTF-8 bytes ([ingestd].max_row_bytes). */
  maxRowBytes?: number;
}

const INCOMPLETE = null;


export class CsvParser {
  private buf = "";
  private line = 1; // physical line number of buf[0]
  private started = false;
  /** Bytes of text seen (UTF-16 units), for progress and limits. */
  chars = 0;
  private readonly maxColumns: number;
  private readonly maxField: number;
  private readonly maxRow: number;
  /** A record longer than this many characters may pass a byte limit: measure it. */
  private readonly quick: number;
  /** The buffered partial record is scanned when it grows past this many characters. */
  private nextScan: number;
  private header: string[] | undefined;

  constructor(
    private readonly onRecord: RecordSink,
    limits: ParserLimits = {},
  ) {
    this.maxColumns = limits.maxColumns ?? Infinity;
    this.maxField = limits.maxFieldBytes ?? Infinity;
    this.maxRow = limits.maxRowBytes ?? Infinity;
    this.quick = Math.floor(Math.min(this.maxField, this.maxRow) / 3);
    this.nextScan = Math.min(this.maxField, this.maxRow);
  }

  push(text: string): void {
    if (text.length === 0) return;
    if (!this.started) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    this.chars += text.length;
    const s = this.buf.length ? this.buf + text : text;
    this.buf = s.slice(this.consume(s, false));
    const floor = Math.min(this.maxField, this.maxRow);
    if (this.buf.length <= floor) this.nextScan = floor;
    else if (this.buf.length > this.nextScan) {
      this.scanPartial();
      this.nextScan = Math.floor(this.buf.length * 1.25) + 4096;
    }
  }

  private column(n: number, line: number): string {
    const name = line > 1 && this.header && n <= this.header.length ? ` (${JSON.stringify(this.header[n - 1]!.trim())})` : "";
    return `CSV line ${line}, column ${n}${name}`;
  }

  private tooManyColumns(line: number): LakehouseError {
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

  /** Exact check of a complete record that may pass a byte limit. */
  private checkRecord(fields: string[], line: number): void {
    let row = 0;
    for (let i = 0; i < fields.length; i++) {
      const b = utf8Length(fields[i]!);
      if (b > this.maxField) throw this.fieldTooLong(i + 1, line, String(b));
      row += b;
      if (row > this.maxRow) throw this.rowTooLong(i + 1, line, `at least ${row}`);
    }
  }

  /**
   * Scans the buffered incomplete record (quote-aware). Characters are a lower bound of
   * UTF-8 bytes, so a field or record with more characters than a limit surely passes it.
   */
  private scanPartial(): void {
    const s = this.buf;
    const line = this.line;
    let field = 1;
    let val = 0;
    let row = 0;
    let inQuote = false;
    let atStart = true;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (inQuote) {
        if (c === 34) {
          if (s.charCodeAt(i + 1) === 34) {
            val++;
            i++;
          } else inQuote = false;
        } else val++;
        continue;
      }
      if (c === 34 && atStart) {
        inQuote = true;
        atStart = false;
        continue;
      }
      if (c === 44) {
        if (val > this.maxField) throw this.fieldTooLong(field, line, `more than ${this.maxField}`);
        row += val;
        val = 0;
        field++;
        if (field > this.maxColumns) throw this.tooManyColumns(line);
        atStart = true;
        continue;
      }
      atStart = false;
      val++;
    }
    if (val > this.maxField) throw this.fieldTooLong(field, line, `more than ${this.maxField}`);
    if (row + val > this.maxRow) throw this.rowTooLong(field, line, `more than ${this.maxRow}`);
  }

  private emit(fields: string[], line: number, chars: number): void {
    if (fields.length > this.maxColumns) throw this.tooManyColumns(line);
    if (chars > this.quick) this.checkRecord(fields, line);
    this.header ??= fields;
    this.onRecord(fields, line);
  }

  /** Call at end of input: parses what is left (a last line may lack its newline). */
  end(): void {
    if (this.buf.length === 0) return;
    const s = this.buf.endsWith("\n") ? this.buf : this.buf + "\n";
    const used = this.consume(s, true);
    this.buf = "";
    if (used < s.length) {
      throw new LakehouseError("bad_request", `CSV line ${this.line}: unterminated quoted field (no closing '"' before the end of the file)`);
    }
  }

  /** Parses complete records from `s`; returns how many characters were consumed. */
  private consume(s: string, atEnd: boolean): number {
    let pos = 0;
    let quote = s.indexOf('"');
    for (;;) {
      const nl = s.indexOf("\n", pos);
      if (nl < 0) return pos;
      if (quote >= 0 && quote < pos) quote = s.indexOf('"', pos);
      if (quote < 0 || quote > nl) {
        // Fast path: no quote on this line.
        let endAt = nl;
        if (endAt > pos && s.charCodeAt(endAt - 1) === 13) endAt--;
        if (endAt > pos) this.emit(s.slice(pos, endAt).split(","), this.line, endAt - pos);
        this.line++;
        pos = nl + 1;
        continue;
      }
      const rec = this.quoted(s, pos, atEnd);
      if (rec === INCOMPLETE) return pos;
      this.emit(rec.fields, this.line, rec.end - pos);
      this.line += rec.lines;
      pos = rec.end;
    }
  }

  /** Parses one record that contains quotes, starting at `start`. */
  private quoted(s: string, start: number, atEnd: boolean): { fields: string[]; end: number; lines: number } | null {
    const fields: string[] = [];
    let i = start;
    const len = s.length;
    for (;;) {
      if (s.charCodeAt(i) === 34) {
        // Quoted field.
        i++;
        let val = "";
        for (;;) {
          const j = s.indexOf('"', i);
          if (j < 0) return INCOMPLETE;
          if (j + 1 >= len) return atEnd ? null : INCOMPLETE;
          if (s.charCodeAt(j + 1) === 34) {
            val += s.slice(i, j + 1);
            i = j + 2;
            continue;
          }
          val += s.slice(i, j);
          i = j + 1;
          break;
        }
        fields.push(val);
        const c = s.charCodeAt(i);
        if (c === 44) {
          i++;
          continue;
        }
        if (c === 10) return this.done(s, start, i + 1, fields);
        if (c === 13) {
          if (i + 1 >= len) return INCOMPLETE;
          if (s.charCodeAt(i + 1) === 10) return this.done(s, start, i + 2, fields);
        }
        const at = this.line + countNewlines(s, start, i);
        throw new LakehouseError(
          "bad_request",
          `CSV line ${at}: unexpected character ${JSON.stringify(s[i])} after a closing quote in field ${fields.length} (a quote inside a quoted field must be doubled: "")`,
        );
      }
      // Unquoted field: up to the next comma or newline.
      const comma = s.indexOf(",", i);
      const nl = s.indexOf("\n", i);
      if (nl < 0) return INCOMPLETE;
      if (comma >= 0 && comma < nl) {
        fields.push(s.slice(i, comma));
        i = comma + 1;
        continue;
      }
      let endAt = nl;
      if (endAt > i && s.charCodeAt(endAt - 1) === 13) endAt--;
      fields.push(s.slice(i, endAt));
      return this.done(s, start, nl + 1, fields);
    }
  }

  private done(s: string, start: number, end: number, fields: string[]): { fields: string[]; end: number; lines: number } {
    return { fields, end, lines: countNewlines(s, start, end) };
  }
}

function countNewlines(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = s.indexOf("\n", from); i >= 0 && i < to; i = s.indexOf("\n", i + 1)) n++;
  return n;
}
