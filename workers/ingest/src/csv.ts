// A streaming CSV parser (RFC 4180) tuned for throughput. Text arrives in chunks of any
// size; complete records are handed to `onRecord(fields, line)` as they are found.
// Fast path: a physical line with no '"' is split on ',' natively. Slow path: a record
// with quotes is scanned field by field (quoted fields may hold commas, "" escapes and
// newlines, and so span chunks). CRLF and LF both end records; blank lines are skipped;
// a leading BOM is dropped. `line` is the 1-based physical line where a record starts.
import { LakehouseError } from "../../../shared/errors";

export type RecordSink = (fields: string[], line: number) => void;

const INCOMPLETE = null;

export class CsvParser {
  private buf = "";
  private line = 1; // physical line number of buf[0]
  private started = false;
  /** Bytes of text seen (UTF-16 units), for progress and limits. */
  chars = 0;

  constructor(private readonly onRecord: RecordSink) {}

  push(text: string): void {
    if (text.length === 0) return;
    if (!this.started) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    this.chars += text.length;
    const s = this.buf.length ? this.buf + text : text;
    this.buf = s.slice(this.consume(s, false));
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
    const sink = this.onRecord;
    for (;;) {
      const nl = s.indexOf("\n", pos);
      if (nl < 0) return pos;
      if (quote >= 0 && quote < pos) quote = s.indexOf('"', pos);
      if (quote < 0 || quote > nl) {
        // Fast path: no quote on this line.
        let endAt = nl;
        if (endAt > pos && s.charCodeAt(endAt - 1) === 13) endAt--;
        if (endAt > pos) sink(s.slice(pos, endAt).split(","), this.line);
        this.line++;
        pos = nl + 1;
        continue;
      }
      const rec = this.quoted(s, pos, atEnd);
      if (rec === INCOMPLETE) return pos;
      sink(rec.fields, this.line);
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
