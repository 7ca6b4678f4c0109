// lakehouse-query: SQL over the lake. POST /sql runs one read-only statement in a
// QueryEngine Durable Object replica (the local engine) or, for datasets over the local
// budget, in Cloudflare R2 SQL (r2sql.ts; [queryd].engine); POST /sql/datasets/changed is the
// catalog's notification after every committed change (drop the stale table, warm the new one).
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { type AppEnv, createServiceApp, parseWith } from "../../../shared/app";
import { serviceClient } from "../../../shared/clients";
import { errorResponse, LakehouseError } from "../../../shared/errors";
import { lakehouseConfig } from "../../../shared/lakehouse-config";
import type { DatasetSummary, Manifest } from "../../../shared/types";
import { engineFailure, resultTooLarge, timeoutError } from "./engine-errors";
import type { EngineAnswer } from "./engine-types";
import { checkReadOnly, resolveDatasets } from "./guard";
import type { QueryEngine } from "./query-engine";
import { chooseEngine, type DatasetSize, queryR2Sql, type R2SqlEnv, r2sqlTarget } from "./r2sql";
import { capRows, rewriteForR2Sql } from "./r2sql-statement";
import { boundRows, type QueryResult, toCsv } from "./result";

/** The query Worker's bindings (generated) and its secrets. */
type QueryEnv = Env & R2SqlEnv;

const { app, api } = createServiceApp<QueryEnv>("query", "sql");

const Param = z.union([z.string(), z.number(), z.boolean(), z.null()]);
// Strict: an unknown field is a 400 naming it, `unknown field body.version` (shared/field-errors.ts
// words it as on every route): a "version": 3 must not look like time travel and be ignored.
const SqlRequest = z.strictObject({
  sql: z.string().min(1, "expected a non-empty SQL string"),
  params: z.array(Param).max(1000).optional(),
  max_rows: z.number().int().positive().optional(),
  timeout_ms: z.number().int().positive().optional(),
  // auto: [queryd].engine decides; local / sqlite: the QueryEngine replicas (sqlite: no columnar path); r2sql: R2 SQL
  engine: z.enum(["auto", "local", "sqlite", "r2sql"]).optional(),
});

const Column = z.object({
  name: z.string(),
  type: z.enum(["BIGINT", "DOUBLE", "BOOLEAN", "VARCHAR", "TIMESTAMP", "DATE"]),
});
const SqlResponse = z.object({
  columns: z.array(Column),
  rows: z.array(z.array(z.unknown())),
  row_count: z.number().int(),
  truncated: z.boolean(),
  /** which bound ended the rows, when truncated: [queryd].max_rows (or the request's) or [queryd].max_result_bytes */
  truncated_by: z.enum(["max_rows", "max_result_bytes"]).optional(),
  elapsed_ms: z.number(),
  engine: z.enum(["columnar", "sqlite", "r2sql"]),
  /** R2 SQL's request id and scan metrics (engine r2sql only) */
  r2sql: z
    .object({
      request_id: z.string().optional(),
      metrics: z.record(z.string(), z.number()).optional(),
    })
    .optional(),
});

const ErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

/** In-flight queries per replica, in this isolate: a new query goes to the least busy one. */
const inflight: number[] = [];
let roundRobin = 0;

function pickReplica(replicas: number): number {
  while (inflight.length < replicas) inflight.push(0);
  let best = -1;
  for (let k = 0; k < replicas; k++) {
    const i = (roundRobin + k) % replicas;
    if (best === -1 || inflight[i]! < inflight[best]!) best = i;
  }
  roundRobin = (best + 1) % replicas;
  return best;
}

function replicaStub(env: QueryEnv, i: number): DurableObjectStub<QueryEngine> {
  return env.QUERY_ENGINE.get(
    env.QUERY_ENGINE.idFromName(`replica-${i}`),
  ) as DurableObjectStub<QueryEngine>;
}

type Ctx = Context<AppEnv<QueryEnv>>;

/** The answer is CSV (`Accept: text/csv`). */
function wantsCsv(c: Ctx): boolean {
  return /\btext\/csv\b/i.test(c.req.header("accept") ?? "");
}

function respond(c: Ctx, result: QueryResult & { engine: string }): Response {
  if (wantsCsv(c)) {
    const headers: Record<string, string> = {
      "content-type": "text/csv; charset=utf-8",
      "x-row-count": String(result.row_count),
      "x-truncated": String(result.truncated),
    };
    if (result.truncated_by) headers["x-truncated-by"] = result.truncated_by;
    return new Response(toCsv(result), { headers });
  }
  return c.json(result);
}

async function runR2Sql(
  c: Ctx,
  body: z.infer<typeof SqlRequest>,
  checked: ReturnType<typeof checkReadOnly>,
  datasets: DatasetSize[],
  started: number,
): Promise<Response> {
  const config = lakehouseConfig(c.env).queryd;
  const target = r2sqlTarget(config, c.env);
  const maxRows = Math.min(body.max_rows ?? config.max_rows, config.max_rows);
  const timeoutMs = Math.min(body.timeout_ms ?? target.timeoutMs, target.timeoutMs);
  const resolved = resolveDatasets(checked.tables, datasets);
  const names = new Map([...resolved].map(([written, d]) => [written, d.name]));
  const statement = capRows(
    rewriteForR2Sql(checked.sql, checked.tables, names, target.namespace, body.params ?? []),
    maxRows,
  );
  const answer = await queryR2Sql(target, statement, {
    maxRows,
    timeoutMs,
    requestId: c.get("requestId"),
  });
  const bounded = boundRows(
    answer.columns.map((col) => col.name),
    answer.rows,
    maxRows,
    config.max_result_bytes,
  );
  if ("tooLarge" in bounded) {
    const e = resultTooLarge(bounded.maxBytes, bounded.tooLarge);
    throw new LakehouseError(e.code, e.message, { status: e.status });
  }
  const truncatedBy = bounded.truncatedBy ?? (answer.truncated ? "max_rows" : undefined);
  return respond(c, {
    ...answer,
    rows: bounded.rows,
    row_count: bounded.rows.length,
    truncated: truncatedBy !== undefined,
    ...(truncatedBy ? { truncated_by: truncatedBy } : {}),
    elapsed_ms: Math.round((performance.now() - started) * 1000) / 1000,
    engine: "r2sql",
  });
}

async function runSql(c: Ctx, body: z.infer<typeof SqlRequest>): Promise<Response> {
  const started = performance.now();
  const config = lakehouseConfig(c.env).queryd;
  const maxRows = Math.min(body.max_rows ?? config.max_rows, config.max_rows);
  const timeoutMs = Math.min(body.timeout_ms ?? config.timeout_ms, config.timeout_ms);
  const checked = checkReadOnly(body.sql);
  // Freshness: the catalog's current versions, so a change whose notification was lost is
  // still seen by this query (read-your-writes does not depend on the notification).
  const list = await serviceClient(c.env as never, "catalog", c.get("requestId")).json<{
    datasets: DatasetSummary[];
  }>("/list");
  if (chooseEngine(config, c.env, body.engine, checked.tables, list.datasets) === "r2sql")
    return runR2Sql(c, body, checked, list.datasets, started);
  // What cannot be bounded is refused before it runs: a recursive CTE ends only by its own LIMIT.
  for (const r of checked.recursive) {
    if (r.limit === null || r.limit > config.max_recursive_rows) {
      throw new LakehouseError(
        "query_unbounded",
        `sql: the recursive CTE ${JSON.stringify(r.name)} ${r.limit === null ? "has no LIMIT <integer> in its own body" : `has LIMIT ${r.limit}`}; ` +
          `a recursive CTE must end with a literal LIMIT of at most [queryd].max_recursive_rows = ${config.max_recursive_rows} inside its parentheses ` +
          `(rule: recursive CTEs need a LIMIT; an outer LIMIT does not stop the recursion under ORDER BY or aggregates)`,
        { status: 400 },
      );
    }
  }
  const params = (body.params ?? []).map((p) => (typeof p === "boolean" ? (p ? 1 : 0) : p));
  const replica = pickReplica(config.replicas);
  inflight[replica]!++;
  const run = replicaStub(c.env, replica).query({
    sql: checked.sql,
    params,
    max_rows: maxRows,
    timeout_ms: timeoutMs,
    columnar: config.columnar && body.engine !== "sqlite",
    columnar_cache_bytes: config.columnar_cache_mb * 1024 * 1024,
    tables: checked.tables,
    max_join_rows: config.max_join_rows,
    max_result_bytes: config.max_result_bytes,
    exact_integers: wantsCsv(c),
    kind: checked.kind,
    datasets: list.datasets.map((d) => ({ name: d.name, version: d.version })),
    request_id: c.get("requestId"),
  });
  // The replica stays counted as busy until its query really ends, also after a timeout.
  void run.finally(() => inflight[replica]!--).catch(() => undefined);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  let answer: EngineAnswer | "timeout";
  try {
    answer = (await Promise.race([run, timeout])) as EngineAnswer | "timeout";
  } catch (err) {
    throw engineFailure(err, timeoutMs, config.max_result_bytes);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
  if (answer === "timeout") {
    const e = timeoutError(timeoutMs);
    throw new LakehouseError(e.code, e.message, { status: e.status });
  }
  if (!answer.ok)
    throw new LakehouseError(answer.error.code, answer.error.message, {
      status: answer.error.status,
    });
  return respond(c, {
    ...answer.result,
    elapsed_ms: Math.round((performance.now() - started) * 1000) / 1000,
    engine: answer.engine,
  });
}

const sqlRoute = createRoute({
  method: "post",
  path: "/",
  summary:
    "Run one read-only SQL statement over the catalog's datasets (SQLite dialect locally; R2 SQL for datasets over the local budget)",
  request: { body: { content: { "application/json": { schema: SqlRequest } }, required: true } },
  responses: {
    200: {
      description: "rows (or CSV with Accept: text/csv)",
      content: { "application/json": { schema: SqlResponse }, "text/csv": { schema: z.string() } },
    },
    400: {
      description:
        "not read-only, a syntax or engine error, an unknown field or an unknown or ambiguous table, unbounded (query_unbounded, query_too_large), the time limit (query_timeout), " +
        "a first row alone over [queryd].max_result_bytes (result_too_large), " +
        "or on R2 SQL: a statement it rejects (r2sql_rejected, with its message) or cannot run (r2sql_unsupported, naming the construct)",
      content: { "application/json": { schema: ErrorBody } },
    },
    422: {
      description:
        "a dataset the query reads cannot be loaded into the engine (dataset_unloadable, naming it and why)",
      content: { "application/json": { schema: ErrorBody } },
    },
    502: {
      description: "R2 SQL could not be reached or failed (r2sql_failed, naming R2 SQL)",
      content: { "application/json": { schema: ErrorBody } },
    },
    503: {
      description:
        "R2 SQL was asked for but is not configured (r2sql_not_configured, naming the keys and secret to set)",
      content: { "application/json": { schema: ErrorBody } },
    },
    504: {
      description: "R2 SQL did not answer within [queryd].r2sql_timeout_ms (r2sql_timeout)",
      content: { "application/json": { schema: ErrorBody } },
    },
  },
});

api.openapi(sqlRoute, async (c) => runSql(c as unknown as Ctx, c.req.valid("json")) as never);
// `POST /sql/` (trailing slash) answers the same.
app.post("/sql/", async (c) => {
  const body = parseWith(SqlRequest, await c.req.json().catch(() => undefined), "body");
  return runSql(c, body);
});

const Changed = z.object({
  name: z.string().min(1),
  version: z.number().int().nullable(),
  manifest: z.unknown().nullable().optional(),
});

api.openapi(
  createRoute({
    method: "post",
    path: "/datasets/changed",
    summary: "Catalog notification: a dataset got a new version (or was deleted)",
    request: { body: { content: { "application/json": { schema: Changed } }, required: true } },
    responses: {
      200: {
        description: "what each replica did",
        content: { "application/json": { schema: z.object({}).passthrough() } },
      },
    },
  }),
  async (c) => {
    const { name, version, manifest } = c.req.valid("json");
    const config = lakehouseConfig(c.env).queryd;
    const started = Date.now();
    const replicas = await Promise.all(
      Array.from({ length: config.replicas }, (_, i) =>
        replicaStub(c.env, i).changed(
          name,
          version ?? null,
          (manifest ?? null) as Manifest | null,
          config.warm_on_ingest,
        ),
      ),
    );
    return c.json(
      {
        name,
        version,
        warmed: config.warm_on_ingest && version !== null,
        replicas,
        elapsed_ms: Date.now() - started,
      },
      200,
    );
  },
);

api.get("/datasets", async (c) => {
  const config = lakehouseConfig(c.env).queryd;
  const replicas = await Promise.all(
    Array.from({ length: config.replicas }, (_, i) => replicaStub(c.env, i).cached()),
  );
  return c.json({ replicas: replicas.map((tables, i) => ({ replica: i, tables })) });
});

export { QueryEngine } from "./query-engine";
export default app satisfies ExportedHandler<QueryEnv>;
