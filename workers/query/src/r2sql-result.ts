// R2 SQL's answer in our shape: its API envelope (types), its column types mapped to ours, its
// values (timestamps included) converted, and its refusals and failures mapped to our errors.
// Rule: the answer looks as the local engine's would (typed columns, rows as arrays, UTC
// timestamps); a statement R2 SQL rejects is a 400, anything else it fails at is a 502.
import { LakehouseError } from "../../../shared/errors";
import { type QueryResult, type ResultColumn, type SqlType, typeColumns } from "./result";

export interface R2SqlResponse {
  success?: boolean;
  errors?: { code?: number; message?: string }[];
  messages?: unknown[];
  result?: {
    request_id?: string;
    schema?: { name: string; type?: string }[];
    rows?: (Record<string, unknown> | unknown[])[];
    metrics?: { r2_requests_count?: number; files_scanned?: number; bytes_scanned?: number };
  };
}

export interface R2SqlAnswer extends Omit<QueryResult, "elapsed_ms"> {
  /** R2 SQL's request id and scan metrics, when it sent them */
  r2sql?: { request_id?: string; metrics?: Record<string, number> };
}

/** Our column type for an R2 SQL (Arrow / DataFusion / Iceberg) type name; null when unknown. */
export function columnType(type: string | undefined): SqlType | null {
  if (!type) return null;
  const t = type.toLowerCase();
  if (/^date(32|64)?(\(|$)/.test(t)) return "DATE";
  if (/^(timestamp|date|datetime)/.test(t)) return "TIMESTAMP";
  if (/^(bool)/.test(t)) return "BOOLEAN";
  if (/^(u?int|bigint|smallint|tinyint|integer|long)/.test(t)) return "BIGINT";
  if (/^(float|double|real|decimal|numeric)/.test(t)) return "DOUBLE";
  if (/^(utf8|largeutf8|utf8view|string|varchar|char|text)/.test(t)) return "VARCHAR";
  return "VARCHAR"; // structs, lists, maps, binary…: reported as text (JSON for nested values)
}

const ISO =
  /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}:\d{2})(\.\d+)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/** R2 SQL timestamps (RFC 3339) in our form: `YYYY-MM-DD HH:MM:SS[.fff]`, UTC (as the local engine reports them). */
export function timestampValue(v: unknown): unknown {
  if (typeof v !== "string") return v;
  const m = ISO.exec(v.trim());
  if (!m) return v;
  const [, date, time = "00:00:00", frac = "", zone = ""] = m;
  let when: Date;
  if (zone && !/^(z|[+-]00(:?00)?)$/i.test(zone)) {
    const offset =
      zone.length === 3
        ? `${zone}:00`
        : zone.length === 5
          ? `${zone.slice(0, 3)}:${zone.slice(3)}`
          : zone;
    when = new Date(`${date}T${time}${frac.slice(0, 4)}${offset}`);
    if (Number.isNaN(when.getTime())) return v;
  } else {
    when = new Date(`${date}T${time}${frac.slice(0, 4)}Z`);
    if (Number.isNaN(when.getTime())) return v;
  }
  const iso = when.toISOString();
  const ms = iso.slice(20, 23);
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${ms === "000" ? "" : `.${ms}`}`;
}

function convert(v: unknown, type: SqlType): unknown {
  if (v === null || v === undefined) return null;
  switch (type) {
    case "BIGINT":
      if (typeof v === "string" && /^-?[0-9]+$/.test(v)) {
        const n = Number(v);
        return Number.isSafeInteger(n) ? n : v;
      }
      return v;
    case "DOUBLE":
      if (typeof v === "string") {
        const n = Number(v);
        return Number.isFinite(n) && v.trim() !== "" ? n : null;
      }
      return v;
    case "BOOLEAN":
      if (v === "true" || v === 1) return true;
      if (v === "false" || v === 0) return false;
      return v;
    case "TIMESTAMP":
      return timestampValue(v);
    case "DATE": {
      // `YYYY-MM-DD` as the local engine reports a DATE (R2 SQL may send a full RFC 3339 instant)
      const t = timestampValue(v);
      return typeof t === "string" && /^\d{4}-\d{2}-\d{2}( 00:00:00)?$/.test(t)
        ? t.slice(0, 10)
        : t;
    }
    default:
      return typeof v === "object" ? JSON.stringify(v) : v;
  }
}

/** R2 SQL's result in our shape: typed columns, rows as arrays in column order, at most maxRows. */
export function mapResult(body: R2SqlResponse, maxRows: number): R2SqlAnswer {
  const result = body.result ?? {};
  const rawRows = result.rows ?? [];
  const schema = result.schema ?? [];
  const names = schema.length
    ? schema.map((f) => f.name)
    : rawRows.length && !Array.isArray(rawRows[0])
      ? Object.keys(rawRows[0] as Record<string, unknown>)
      : [];
  let rows: unknown[][] = rawRows.map((r) =>
    Array.isArray(r) ? [...r] : names.map((n) => (r as Record<string, unknown>)[n] ?? null),
  );
  const truncated = rows.length > maxRows;
  if (truncated) rows = rows.slice(0, maxRows);
  const inferred = typeColumns(names, rows, new Map());
  const columns: ResultColumn[] = names.map((name, i) => ({
    name,
    type: columnType(schema[i]?.type) ?? inferred[i]!.type,
  }));
  for (const row of rows) {
    for (let i = 0; i < columns.length; i++) row[i] = convert(row[i], columns[i]!.type);
  }
  const answer: R2SqlAnswer = { columns, rows, row_count: rows.length, truncated };
  if (result.request_id !== undefined || result.metrics !== undefined) {
    answer.r2sql = {};
    if (result.request_id !== undefined) answer.r2sql.request_id = result.request_id;
    if (result.metrics !== undefined)
      answer.r2sql.metrics = result.metrics as Record<string, number>;
  }
  return answer;
}

function errorText(body: R2SqlResponse | undefined, fallback: string): string {
  const errs = (body?.errors ?? []).filter((e) => e && (e.message || e.code !== undefined));
  if (!errs.length) return fallback;
  return errs
    .map((e) => (e.code !== undefined ? `${e.code}: ${e.message ?? ""}` : (e.message ?? "")))
    .join("; ");
}

/**
 * R2 SQL's refusal or failure as our error: a statement it rejects (HTTP 4xx other than
 * 401/403/404/429, or an error code 4xxxx) → 400 `r2sql_rejected` with its message; bad
 * credentials, an unknown warehouse, rate limiting, 5xx, an edge failure (80001) or an
 * unreadable answer → 502 `r2sql_failed` naming R2 SQL.
 */
export function mapError(
  status: number,
  body: R2SqlResponse | undefined,
  raw: string,
): LakehouseError {
  const codes = (body?.errors ?? [])
    .map((e) => e?.code)
    .filter((c): c is number => typeof c === "number");
  const text = errorText(body, raw.slice(0, 300) || `HTTP ${status}`);
  const statementError =
    codes.some((c) => c >= 40000 && c < 50000) ||
    (codes.length === 0 &&
      status >= 400 &&
      status < 500 &&
      ![401, 403, 404, 408, 429].includes(status));
  if (statementError && ![401, 403, 429].includes(status)) {
    return new LakehouseError("r2sql_rejected", `sql: R2 SQL rejected the statement: ${text}`, {
      status: 400,
    });
  }
  let hint = "";
  if (status === 401 || status === 403)
    hint =
      " (check the R2_SQL_TOKEN secret: it needs R2 SQL Read, R2 Data Catalog Read and R2 Storage Read)";
  else if (status === 404)
    hint = " (check [queryd].r2sql_account_id, r2sql_warehouse and r2sql_url)";
  return new LakehouseError("r2sql_failed", `sql: R2 SQL failed (HTTP ${status}): ${text}${hint}`, {
    status: 502,
  });
}
