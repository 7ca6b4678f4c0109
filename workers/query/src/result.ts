// Turning SQLite rows into the /sql answer: column types (BIGINT, DOUBLE, BOOLEAN,
// VARCHAR, TIMESTAMP, DATE), booleans back to true/false, and CSV for `Accept: text/csv`.

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
  elapsed_ms: number;
}

/**
 * SQLite reports no declared type for a result column, so each column's type comes from
 * `declared` — per output column (the engine reads it from the select list's expressions,
 * output-types.ts), or by output name: the dataset columns of that name in the tables the query
 * names, when that name has one type (BOOLEAN and TIMESTAMP are stored as integers and text) —
 * and otherwise from the values: all integers → BIGINT, any other number → DOUBLE, else VARCHAR.
 */
export function typeColumns(names: string[], rows: unknown[][], declared: Map<string, SqlType> | (SqlType | undefined)[]): ResultColumn[] {
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
    if ((known === "TIMESTAMP" || known === "DATE") && !sawInt && !sawFloat && !sawBlob) return { name, type: known };
    if (known && known !== "BOOLEAN" && known !== "TIMESTAMP" && known !== "DATE" && !(sawText && known !== "VARCHAR") && !(sawFloat && known === "BIGINT")) {
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
  return /[",\r\n]/.test(s) || s.startsWith(" ") || s.endsWith(" ") ? `"${s.replaceAll('"', '""')}"` : s;
}

/** RFC 4180 CSV: a header line, then one line per row, CRLF line ends; NULL is an empty field. */
export function toCsv(result: QueryResult): string {
  const lines = [result.columns.map((c) => csvField(c.name)).join(",")];
  for (const row of result.rows) lines.push(row.map(csvField).join(","));
  return lines.join("\r\n") + "\r\n";
}
