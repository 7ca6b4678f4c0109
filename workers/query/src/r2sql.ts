// The R2 SQL engine: Cloudflare R2 SQL (serverless, distributed SQL over the Iceberg tables that
// R2 Data Catalog serves) for statements over datasets that outgrow one QueryEngine replica.
//
// The HTTP API, as documented (https://developers.cloudflare.com/r2-sql/query-data/):
//   POST https://api.sql.cloudflarestorage.com/api/v1/accounts/{ACCOUNT_ID}/r2-sql/query/{BUCKET_NAME}
//   Authorization: Bearer <API token with R2 SQL Read, R2 Data Catalog Read, R2 Storage Read>
//   Content-Type: application/json
//   {"query": "SELECT * FROM namespace.table_name LIMIT 10"}
// answered with Cloudflare's API envelope:
//   {"success": true, "errors": [], "messages": [],
//    "result": {"request_id", "schema": [{"name", "type"}], "rows": [{"<column>": value}],
//               "metrics": {"r2_requests_count", "files_scanned", "bytes_scanned"}}}
//   {"success": false, "errors": [{"code": 40003, "message": "..."}], ...}
// (error codes: 40003 invalid SQL syntax, 40004 invalid query — unsupported feature, unknown
// column, type mismatch —, 80001 edge connection failure; see
// https://developers.cloudflare.com/r2-sql/reference/limitations-best-practices/).
//
// The API takes no bound parameters: `params` are inlined as SQL literals (strings quoted with
// '' doubling, numbers, TRUE/FALSE, NULL). Tables are written `namespace.table`: every dataset
// reference the guard found is rewritten to `"<namespace>"."<dataset name>"`.
import type { LakehouseConfig } from "../../../shared/config";
import { LakehouseError } from "../../../shared/errors";
import { resolveDatasets } from "./guard";
import { type QueryResult, type ResultColumn, type SqlType, typeColumns } from "./result";
import { type Token, tokenize } from "./sql-tokenizer";
import type { TableRef } from "./statement-tables";

/** The query Worker's secret for R2 SQL (`wrangler secret put R2_SQL_TOKEN -c workers/query/wrangler.toml`). */
export interface R2SqlEnv {
  R2_SQL_TOKEN?: string;
}

/** Cloudflare's documented R2 SQL API host (used when [queryd].r2sql_url is empty). */
export const R2SQL_DEFAULT_URL = "https://api.sql.cloudflarestorage.com";

type Queryd = LakehouseConfig["queryd"];

export interface R2SqlTarget {
  /** the full query URL */
  endpoint: string;
  token: string;
  /** Iceberg namespace of the datasets ([queryd].r2sql_namespace) */
  namespace: string;
  timeoutMs: number;
}

/**
 * What is missing for R2 SQL to be usable: [] when configured. Configured = r2sql_warehouse set,
 * the R2_SQL_TOKEN secret set, and an account id (r2sql_account_id) or an API URL (r2sql_url).
 */
export function r2sqlMissing(config: Queryd, env: R2SqlEnv): string[] {
  const missing: string[] = [];
  if (!config.r2sql_warehouse)
    missing.push("[queryd].r2sql_warehouse (or var LH_QUERYD_R2SQL_WAREHOUSE)");
  if (!env.R2_SQL_TOKEN)
    missing.push(
      "the query Worker's secret R2_SQL_TOKEN (wrangler secret put R2_SQL_TOKEN -c workers/query/wrangler.toml)",
    );
  if (!config.r2sql_account_id && !config.r2sql_url)
    missing.push("[queryd].r2sql_account_id (or r2sql_url)");
  return missing;
}

export function r2sqlConfigured(config: Queryd, env: R2SqlEnv): boolean {
  return r2sqlMissing(config, env).length === 0;
}

/**
 * The query URL. The warehouse name as `wrangler r2 bucket catalog get` prints it is
 * `<account id>_<bucket>`; the documented path takes the account id and the bucket name, so a
 * warehouse starting with `<account id>_` contributes the bucket after that prefix (a bare bucket
 * name is used as it is). The account id is r2sql_account_id, else the warehouse's prefix.
 * r2sql_url replaces the documented host; with no account id at all it is taken as the full URL.
 */
export function r2sqlEndpoint(config: Queryd): string {
  const warehouse = config.r2sql_warehouse;
  const cut = warehouse.indexOf("_");
  const account = config.r2sql_account_id || (cut > 0 ? warehouse.slice(0, cut) : "");
  const bucket =
    account && warehouse.startsWith(`${account}_`)
      ? warehouse.slice(account.length + 1)
      : warehouse;
  const base = (config.r2sql_url || R2SQL_DEFAULT_URL).replace(/\/+$/, "");
  if (!account) return base;
  return `${base}/api/v1/accounts/${encodeURIComponent(account)}/r2-sql/query/${encodeURIComponent(bucket)}`;
}

/** The target, or a 503 naming every key or secret still to set. */
export function r2sqlTarget(config: Queryd, env: R2SqlEnv): R2SqlTarget {
  const missing = r2sqlMissing(config, env);
  if (missing.length) {
    throw new LakehouseError(
      "r2sql_not_configured",
      `sql: R2 SQL is not configured; set ${missing.join(", ")} (docs/deploy.md "Turning on R2 SQL")`,
      { status: 503 },
    );
  }
  return {
    endpoint: r2sqlEndpoint(config),
    token: env.R2_SQL_TOKEN!,
    namespace: config.r2sql_namespace,
    timeoutMs: config.r2sql_timeout_ms,
  };
}

// ---------------------------------------------------------------------------------------------
// Statement rewriting

/** A double-quoted identifier (`"` doubled), as R2 SQL (and standard SQL) reads it. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * One parameter as a SQL literal. Strings: single quotes with `'` doubled; a backslash is
 * refused, because whether R2 SQL's dialect treats it as an escape is not documented, and a
 * literal that could end early would let a parameter change the statement. Numbers: as written by
 * JavaScript, negative ones in parentheses (so `x-?` cannot become a `--` comment). Booleans:
 * TRUE / FALSE (R2 SQL has a boolean type). null: NULL.
 */
export function sqlLiteral(value: string | number | boolean | null, index: number): string {
  if (value === null) return "NULL";
  if (typeof value === "boolean") return value ? "TRUE" : "FALSE";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw unsupported(`params[${index}] is not a finite number`);
    const text = String(value);
    return value < 0 || Object.is(value, -0) ? `(${text})` : text;
  }
  if (value.includes("\\")) {
    throw unsupported(
      `params[${index}] contains a backslash; R2 SQL's API takes no bound parameters, so parameters are inlined as literals, ` +
        `and a backslash cannot be inlined safely (write that value in the SQL text instead)`,
    );
  }
  if (value.includes("\0"))
    throw unsupported(
      `params[${index}] contains a NUL character, which cannot be written in a SQL literal`,
    );
  return `'${value.replaceAll("'", "''")}'`;
}

function unsupported(message: string): LakehouseError {
  return new LakehouseError("r2sql_unsupported", `sql: R2 SQL: ${message}`, { status: 400 });
}

interface ParamSlot {
  from: number;
  to: number;
  /** 1-based parameter index, numbered as SQLite numbers them */
  index: number;
}

/**
 * The parameter placeholders of a statement, numbered as SQLite binds them (so `params` means
 * the same on both engines): `?` takes the next index, `?NNN` index NNN, and `:name` / `@name` /
 * `$name` the next index on its first use and the same one after. A `::` cast is not a parameter.
 */
export function parameterSlots(tokens: Token[], sql: string): ParamSlot[] {
  const slots: ParamSlot[] = [];
  const named = new Map<string, number>();
  let max = 0;
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]!;
    if (t.kind !== "param") continue;
    // `x::INT`: the tokenizer sees ":" then ":INT"
    if (t.text.startsWith(":") && (sql[t.pos - 1] === ":" || sql[t.pos + 1] === ":")) continue;
    let index: number;
    if (t.text === "?") index = ++max;
    else if (t.text.startsWith("?")) {
      if (!/^\?[0-9]+$/.test(t.text))
        throw new LakehouseError("bad_request", `sql: bad parameter ${t.text} at offset ${t.pos}`);
      index = Number(t.text.slice(1));
      if (index < 1 || index > 32766)
        throw new LakehouseError(
          "bad_request",
          `sql: parameter ${t.text} at offset ${t.pos} is out of range`,
        );
      max = Math.max(max, index);
    } else {
      if (t.text.length < 2) continue; // a lone ':', '@' or '$' is not a parameter; R2 SQL will say what it is
      const known = named.get(t.text);
      if (known !== undefined) index = known;
      else {
        index = ++max;
        named.set(t.text, index);
      }
    }
    slots.push({ from: t.pos, to: t.pos + t.text.length, index });
  }
  return slots;
}

/** The first construct of the statement that R2 SQL does not run, named; null when none is seen. */
export function unsupportedConstruct(tokens: Token[]): string | null {
  const word = (k: number): string =>
    tokens[k]?.kind === "word" ? tokens[k]!.value.toLowerCase() : "";
  if (word(0) === "values")
    return "a VALUES statement (R2 SQL reads tables: SELECT … FROM a dataset)";
  if (word(0) === "explain" && word(1) === "query" && word(2) === "plan")
    return "EXPLAIN QUERY PLAN (SQLite's; R2 SQL has EXPLAIN and EXPLAIN FORMAT JSON)";
  for (let k = 0; k < tokens.length; k++) {
    const w = word(k);
    if (!w) continue;
    if (w === "recursive" && word(k - 1) === "with") return "WITH RECURSIVE (recursive CTEs)";
    if (w === "lateral") return "LATERAL";
    if (w === "offset" && (tokens[k - 1]?.kind === "number" || tokens[k - 1]?.kind === "param"))
      return "OFFSET";
    if (
      w === "limit" &&
      tokens[k + 2]?.text === "," &&
      (tokens[k + 1]?.kind === "number" || tokens[k + 1]?.kind === "param")
    )
      return "LIMIT <offset>, <count>";
    if (
      w === "window" &&
      (tokens[k + 1]?.kind === "word" || tokens[k + 1]?.kind === "quoted") &&
      word(k + 2) === "as"
    )
      return "the named WINDOW clause (write OVER (…) at each call)";
    if ((w === "json_each" || w === "json_tree") && tokens[k + 1]?.text === "(")
      return `${tokens[k]!.text}() (a SQLite table function)`;
    if (w === "glob") return "GLOB (SQLite's; use LIKE)";
    if (w === "indexed" && (word(k - 1) === "not" || word(k + 1) === "by"))
      return "INDEXED BY / NOT INDEXED (SQLite's)";
  }
  return null;
}

/**
 * Rewrites a checked statement for R2 SQL: every dataset reference becomes
 * `"<namespace>"."<dataset name>"` (aliased to the name as written, as the local engine does, so
 * `people.id` keeps working), every parameter its literal. `names` maps each reference's name as
 * written to the catalog dataset's name. Throws 400 when `params` does not fill the placeholders.
 */
export function rewriteForR2Sql(
  sql: string,
  tables: TableRef[],
  names: Map<string, string>,
  namespace: string,
  params: (string | number | boolean | null)[],
): string {
  const tokens = tokenize(sql);
  const construct = unsupportedConstruct(tokens);
  if (construct)
    throw unsupported(
      `${construct} is not supported by R2 SQL (https://developers.cloudflare.com/r2-sql/reference/limitations-best-practices/); run it on the local engine ("engine": "local") or rewrite it`,
    );
  const slots = parameterSlots(tokens, sql);
  const needed = slots.reduce((m, s) => Math.max(m, s.index), 0);
  if (needed !== params.length) {
    throw new LakehouseError(
      "bad_request",
      `sql: the statement has ${needed} parameter${needed === 1 ? "" : "s"} but params has ${params.length} value${params.length === 1 ? "" : "s"}`,
    );
  }
  const edits: { from: number; to: number; text: string }[] = [];
  for (const s of slots)
    edits.push({ from: s.from, to: s.to, text: sqlLiteral(params[s.index - 1]!, s.index - 1) });
  for (const ref of tables) {
    const name = names.get(ref.name) ?? ref.name;
    const qualified = `${quoteIdentifier(namespace)}.${quoteIdentifier(name)}`;
    edits.push({
      from: ref.from,
      to: ref.to,
      text: ref.aliased ? qualified : `${qualified} AS ${quoteIdentifier(ref.name)}`,
    });
  }
  let out = sql;
  for (const e of edits.sort((a, b) => b.from - a.from))
    out = out.slice(0, e.from) + e.text + out.slice(e.to);
  return out;
}

/**
 * Bounds the rows R2 SQL sends back to maxRows + 1 (one more tells `truncated`): a statement
 * without a LIMIT at its top level gets `LIMIT maxRows+1` appended (R2 SQL's own default is 500
 * rows); a top-level integer LIMIT above that is lowered to it. EXPLAIN is left alone.
 */
export function capRows(sql: string, maxRows: number): string {
  const tokens = tokenize(sql);
  const first = tokens[0]?.kind === "word" ? tokens[0].value.toLowerCase() : "";
  if (first === "explain") return sql;
  let depth = 0;
  let last = -1;
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]!;
    if (t.kind === "punct" && t.text === "(") depth++;
    else if (t.kind === "punct" && t.text === ")") depth--;
    else if (depth === 0 && t.kind === "word" && t.value.toLowerCase() === "limit") last = k;
  }
  const cap = maxRows + 1;
  if (last === -1) return `${sql}\nLIMIT ${cap}`;
  const n = tokens[last + 1];
  if (n?.kind === "number" && /^[0-9]+$/.test(n.text) && Number(n.text) > cap) {
    return sql.slice(0, n.pos) + String(cap) + sql.slice(n.pos + n.text.length);
  }
  return sql;
}

// ---------------------------------------------------------------------------------------------
// The call and its answer

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

export type Fetch = (input: string, init: RequestInit) => Promise<Response>;

/**
 * Sends one statement to R2 SQL and maps the answer; time-boxed by timeoutMs (→ 504
 * `r2sql_timeout`). `fetcher` is the global fetch unless a test injects one.
 */
export async function queryR2Sql(
  target: Pick<R2SqlTarget, "endpoint" | "token">,
  query: string,
  options: { maxRows: number; timeoutMs: number; fetcher?: Fetch; requestId?: string },
): Promise<R2SqlAnswer> {
  const fetcher: Fetch = options.fetcher ?? ((input, init) => fetch(input, init));
  const controller = new AbortController();
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
      reject(
        new LakehouseError(
          "r2sql_timeout",
          `sql: R2 SQL did not answer within ${options.timeoutMs} ms ([queryd].r2sql_timeout_ms or the request's timeout_ms)`,
          { status: 504 },
        ),
      );
    }, options.timeoutMs);
  });
  const headers: Record<string, string> = {
    authorization: `Bearer ${target.token}`,
    "content-type": "application/json",
    accept: "application/json",
  };
  if (options.requestId) headers["x-request-id"] = options.requestId;
  try {
    const exchange = (async () => {
      let res: Response;
      try {
        res = await fetcher(target.endpoint, {
          method: "POST",
          headers,
          body: JSON.stringify({ query }),
          signal: controller.signal,
        });
      } catch (err) {
        if (timedOut) throw err;
        throw new LakehouseError(
          "r2sql_failed",
          `sql: R2 SQL could not be reached (${target.endpoint}): ${err instanceof Error ? err.message : String(err)}`,
          { status: 502 },
        );
      }
      const raw = await res.text();
      let body: R2SqlResponse | undefined;
      try {
        body = JSON.parse(raw) as R2SqlResponse;
      } catch {
        body = undefined;
      }
      if (!res.ok || !body || body.success === false || (body.errors?.length && !body.result)) {
        if (res.ok && !body)
          throw new LakehouseError(
            "r2sql_failed",
            `sql: R2 SQL answered HTTP ${res.status} with a body that is not JSON: ${raw.slice(0, 200)}`,
            { status: 502 },
          );
        throw mapError(res.ok ? 400 : res.status, body, raw);
      }
      if (!body.result || !Array.isArray(body.result.rows ?? [])) {
        throw new LakehouseError(
          "r2sql_failed",
          `sql: R2 SQL answered without a result: ${raw.slice(0, 200)}`,
          { status: 502 },
        );
      }
      return mapResult(body, options.maxRows);
    })();
    return await Promise.race([exchange, timeout]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// Which tables, and which engine

export interface DatasetSize {
  name: string;
  row_count: number;
  /** Parquet bytes of the current version (missing → 0) */
  bytes?: number;
}

/** The datasets (of those the statement reads) over the local engine's budget, with why. */
export function overLocalBudget(
  refs: TableRef[],
  datasets: DatasetSize[],
  config: Pick<Queryd, "local_max_rows" | "local_max_bytes">,
): string[] {
  const over: string[] = [];
  const seen = new Set<string>();
  let resolved: Map<string, DatasetSize>;
  try {
    resolved = resolveDatasets(refs, datasets);
  } catch {
    return []; // an unknown or ambiguous table: the local engine answers with its own error
  }
  for (const d of resolved.values()) {
    if (seen.has(d.name)) continue;
    seen.add(d.name);
    const bytes = d.bytes ?? 0;
    if (d.row_count > config.local_max_rows)
      over.push(
        `${d.name}: ${d.row_count} rows > [queryd].local_max_rows = ${config.local_max_rows}`,
      );
    else if (bytes > config.local_max_bytes)
      over.push(`${d.name}: ${bytes} bytes > [queryd].local_max_bytes = ${config.local_max_bytes}`);
  }
  return over;
}

/**
 * Which engine answers: the request's `engine` when it names one (local / sqlite → the
 * QueryEngine replicas, r2sql → R2 SQL), else [queryd].engine; "auto" sends the statement to R2
 * SQL when a dataset it reads is over local_max_rows or local_max_bytes and R2 SQL is configured.
 */
export function chooseEngine(
  config: Queryd,
  env: R2SqlEnv,
  requested: string | undefined,
  tables: TableRef[],
  datasets: DatasetSize[],
): "local" | "r2sql" {
  const mode =
    requested === "local" || requested === "sqlite"
      ? "local"
      : requested === "r2sql"
        ? "r2sql"
        : config.engine;
  if (mode === "local" || mode === "r2sql") return mode;
  if (!tables.length || !r2sqlConfigured(config, env)) return "local";
  return overLocalBudget(tables, datasets, config).length ? "r2sql" : "local";
}
