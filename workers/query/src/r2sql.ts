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
// Statement rendering is r2sql-statement.ts; the answer's mapping, r2sql-result.ts. This file
// owns the configuration, the HTTP call and the choice of engine.
import type { LakehouseConfig } from "../../../shared/config";
import { LakehouseError } from "../../../shared/errors";
import { resolveDatasets } from "./guard";
import { mapError, mapResult, type R2SqlAnswer, type R2SqlResponse } from "./r2sql-result";
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
// The call

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
