// Turning SQLite rows into the /sql answer: column types (BIGINT, DOUBLE, BOOLEAN,
// VARCHAR, TIMESTAMP, DATE), booleans back to true/false, and CSV for `Accept: text/csv`;
// and what one row costs in bytes, so an answer is bounded ([queryd].max_result_bytes) while
// its rows are produced. Rule: the count is never below the row's JSON text, and a CSV line
// is never longer than that, so one bound holds for both forms.

export type SqlType = "BIGINT" | "DOUBLE" | "BOOLEAN" | "VARCHAR" | "TIMESTAMP" | "DATE";

export interface ResultColumn {
  name: string;
  type: SqlType;
}

export interface QueryResult {
  columns: ResultColumn[];
  rows: unknown[][];
  row_count: number;
  truncated: boolean;
  /** which bound ended the rows (only when truncated) */
  truncated_by?: "max_rows" | "max_result_bytes";
  elapsed_ms: number;
}

/** A string with nothing JSON escapes and nothing outside ASCII: its JSON text is its length + 2. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what JSON escapes
const PLAIN = /^[^"\\\x00-\x1f\x7f-\uffff]*$/;

/** Bytes of `s` as a JSON string (UTF-8, quotes and escapes included). */
function jsonStringBytes(s: string): number {
  if (PLAIN.test(s)) return s.length + 2;
  let n = 2;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20) n += 6;
    else if (c === 0x22 || c === 0x5c) n += 2;
    else if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4; // a surrogate pair: one 4-byte character
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff)
      n += 6; // a lone surrogate is written \uXXXX
    else n += 3;
  }
  return n;
}

/**
 * The bytes a row adds to the answer as JSON text: `[v,v,...]` and a comma; strings as UTF-8
 * with escapes, blobs as base64 text, 0 and 1 as `false`/`true` (a BOOLEAN column shows them so).
 * [queryd].max_result_bytes bounds the sum of this over the rows, counted as each row arrives.
 */
export function rowBytes(row: readonly unknown[]): number {
  let n = 2 + row.length; // brackets, commas between values and after the row
  for (const v of row) {
    if (v === null || v === undefined) n += 4;
    else if (typeof v === "number") n += v === 0 || v === 1 ? 5 : String(v).length;
    else if (typeof v === "string") n += jsonStringBytes(v);
    else if (v instanceof ArrayBuffer) n += 4 * Math.ceil(v.byteLength / 3) + 2;
    else if (typeof v === "boolean") n += 5;
    else n += jsonStringBytes(String(v));
  }
  return n;
}

/** The bytes a result may take before its rows start: `{"columns":[...]` and the rest of the envelope. */
export function envelopeBytes(names: readonly string[]): number {
  let n = 200;
  for (const name of names) n += jsonStringBytes(name) + 30;
  return n;
}

/**
 * Rows already in memory (the columnar path's, whose own limits bound them; R2 SQL's) cut to the
 * same bounds as rows stepped from SQLite: at most `maxRows` rows and `maxBytes` bytes (rowBytes).
 * `tooLarge`: the first row alone is over `maxBytes` (its size).
 */
export function boundRows(
  names: readonly string[],
  rows: unknown[][],
  maxRows: number,
  maxBytes: number,
):
  | { rows: unknown[][]; truncatedBy?: "max_rows" | "max_result_bytes" }
  | { tooLarge: number; maxBytes: number } {
  let bytes = envelopeBytes(names);
  const end = Math.min(rows.length, maxRows);
  for (let i = 0; i < end; i++) {
    const size = rowBytes(rows[i]!);
    if (bytes + size > maxBytes) {
      if (i === 0) return { tooLarge: size, maxBytes };
      return { rows: rows.slice(0, i), truncatedBy: "max_result_bytes" };
    }
    bytes += size;
  }
  return rows.length > maxRows
    ? { rows: rows.slice(0, maxRows), truncatedBy: "max_rows" }
    : { rows };
}

/**
 * SQLite reports no declared type for a result column, so each column's type comes from
 * `declared` — per output column (the engine reads it from the select list's expressions,
 * output-types.ts), or by output name: the dataset columns of that name in the tables the query
 * names, when that name has one type (BOOLEAN and TIMESTAMP are stored as integers and text) —
 * and otherwise from the values: all integers → BIGINT, any other number → DOUBLE, else VARCHAR.
 */
export function typeColumns(
  names: string[],
  rows: unknown[][],
  declared: Map<string, SqlType> | (SqlType | undefined)[],
): ResultColumn[] {
  return names.map((name, c) => {
    const known = Array.isArray(declared) ? declared[c] : declared.get(name.toLowerCase());
    let sawInt = false;
    let sawFloat = false;
    let sawText = false;
    let sawBlob = false;
    for (const row of rows) {
      const v = row[c];
      if (v === null || v === undefined) continue;
      if (typeof v === "number") {
        if (Number.isInteger(v)) sawInt = true;
        else sawFloat = true;
      } else if (typeof v === "string") sawText = true;
      else sawBlob = true;
    }
    if (known === "BOOLEAN" && !sawText && !sawFloat && !sawBlob) return { name, type: "BOOLEAN" };
    if ((known === "TIMESTAMP" || known === "DATE") && !sawInt && !sawFloat && !sawBlob)
      return { name, type: known };
    if (
      known &&
      known !== "BOOLEAN" &&
      known !== "TIMESTAMP" &&
      known !== "DATE" &&
      !(sawText && known !== "VARCHAR") &&
      !(sawFloat && known === "BIGINT")
    ) {
      return { name, type: known };
    }
    if (sawText || sawBlob) return { name, type: "VARCHAR" };
    if (sawFloat) return { name, type: "DOUBLE" };
    if (sawInt) return { name, type: "BIGINT" };
    return { name, type: known ?? "VARCHAR" };
  });
}

/** Booleans are stored as 0/1; report them as JSON booleans. Blobs as base64 text. */
export function finishRows(columns: ResultColumn[], rows: unknown[][]): void {
  const boolCols = columns.flatMap((col, i) => (col.type === "BOOLEAN" ? [i] : []));
  for (const row of rows) {
    for (const i of boolCols) {
      const v = row[i];
      if (v !== null && v !== undefined) row[i] = v !== 0;
    }
    for (let i = 0; i < row.length; i++) {
      const v = row[i];
      if (v instanceof ArrayBuffer) row[i] = btoa(String.fromCharCode(...new Uint8Array(v)));
    }
  }
}

function csvField(v: unknown): string {
  if (v === null || v === undefined) return "";
  const s = typeof v === "string" ? v : String(v);
  return /[",\r\n]/.test(s) || s.startsWith(" ") || s.endsWith(" ")
    ? `"${s.replaceAll('"', '""')}"`
    : s;
}

/** RFC 4180 CSV: a header line, then one line per row, CRLF line ends; NULL is an empty field. */
export function toCsv(result: QueryResult): string {
  const lines = [result.columns.map((c) => csvField(c.name)).join(",")];
  for (const row of result.rows) lines.push(row.map(csvField).join(","));
  return lines.join("\r\n") + "\r\n";
}
