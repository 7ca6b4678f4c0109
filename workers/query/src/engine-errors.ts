// The engine's failures as its callers see them: a query's expected failures as EngineError values
// (they cross the Durable Object's RPC boundary as data), the 422 of a dataset that cannot be loaded,
// and engineFailure(), which turns a replica call that threw (CPU, memory, reply size) into the one
// 4xx or 503 the Worker answers. Rule: a failure retrying cannot fix is a 4xx naming the knob to
// turn; only an engine fault is a 503 "retry".
import { LakehouseError } from "../../../shared/errors";
import { isRpcSizeError } from "../../../shared/json-limits";
import type { EngineError } from "./engine-types";

const MiB = 1024 * 1024;

export function asEngineError(
  err: unknown,
  fallbackCode: string,
  fallbackStatus: number,
): EngineError {
  if (err instanceof LakehouseError)
    return { code: err.code, message: err.message, status: err.status };
  const message = err instanceof Error ? err.message : String(err);
  return { code: fallbackCode, message, status: fallbackStatus };
}

/** A dataset that cannot be loaded fails only the queries that read it, with this 422. */
export function unloadableError(name: string, version: number, reason: string): LakehouseError {
  return new LakehouseError(
    "dataset_unloadable",
    `sql: dataset ${JSON.stringify(name)} (version ${version}) cannot be loaded into the SQL engine: ${reason}`,
    { status: 422 },
  );
}

/** One row alone is over [queryd].max_result_bytes: no answer can carry it (a 4xx; retrying cannot help). */
export function resultTooLarge(maxBytes: number, rowSize?: number): EngineError {
  return {
    code: "result_too_large",
    message:
      rowSize !== undefined
        ? `sql: the first row alone takes ${rowSize} bytes, over [queryd].max_result_bytes = ${maxBytes}; select fewer or narrower columns (substr(), length())`
        : `sql: the answer is over the engine's limit of one reply (32 MiB); [queryd].max_result_bytes = ${maxBytes} should keep it below that: select fewer rows or columns`,
    status: 400,
  };
}

export function timeoutError(ms: number): EngineError {
  return {
    code: "query_timeout",
    message: `sql: the query ran longer than ${ms} ms ([queryd].timeout_ms or the request's timeout_ms) and was stopped`,
    status: 400,
  };
}

/**
 * The replica call threw: deployed, a statement past the Durable Object's CPU limit
 * ([limits] cpu_ms in workers/query/wrangler.toml) is ended and the stub call rejects
 * ("exceeded its CPU time limit" / "...and was reset"). Only this query fails, with a 4xx
 * naming the limit; the object restarts from its durable SQLite for the next query.
 */
export function engineFailure(
  err: unknown,
  timeoutMs: number,
  maxResultBytes = 16 * MiB,
): LakehouseError {
  if (err instanceof LakehouseError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (isRpcSizeError(err)) {
    // the answer did not fit one reply: the same query would fail again, so a 4xx, not a 503 "retry"
    const e = resultTooLarge(maxResultBytes);
    return new LakehouseError(e.code, e.message, { status: e.status });
  }
  if (/cpu/i.test(message) && /(limit|exceeded)/i.test(message)) {
    return new LakehouseError(
      "query_timeout",
      `sql: the query exceeded the engine's CPU limit ([limits] cpu_ms of the query Worker) before its ${timeoutMs} ms timeout could stop it, and was ended (${message})`,
      { status: 400 },
    );
  }
  if (/memory/i.test(message) && /(limit|exceeded)/i.test(message)) {
    return new LakehouseError(
      "query_too_large",
      `sql: the query exceeded the engine's memory limit and was ended (${message}); narrow it (fewer rows, columns or groups)`,
      { status: 400 },
    );
  }
  return new LakehouseError(
    "service_unavailable",
    `sql: the query engine failed while running this query (${message}); retry`,
    { status: 503 },
  );
}
