// One error type for the whole lakehouse. Thrown inside a Worker, it becomes the
// one JSON body `{"error": {"code", "message"}}` with its status (see app.ts).
// Errors do not survive service-binding calls as objects; they cross Worker
// boundaries as HTTP statuses and that same JSON body (see clients.ts).

export type ErrorCode =
  | "bad_request"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "method_not_allowed"
  | "conflict"
  | "payload_too_large"
  | "unsupported_media_type"
  | "internal"
  | "bad_gateway"
  | "service_unavailable"
  | "gateway_timeout"
  | (string & {});

const STATUS_BY_CODE: Record<string, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  range_not_satisfiable: 416,
  unsupported_media_type: 415,
  internal: 500,
  bad_gateway: 502,
  service_unavailable: 503,
  gateway_timeout: 504,
};

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

export class LakehouseError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details?: unknown;

  constructor(
    code: ErrorCode,
    message: string,
    options: { status?: number; details?: unknown } = {},
  ) {
    super(message);
    this.name = "LakehouseError";
    this.code = code;
    this.status = options.status ?? STATUS_BY_CODE[code] ?? 500;
    this.details = options.details;
  }

  toBody(): ErrorBody {
    const body: ErrorBody = { error: { code: this.code, message: this.message } };
    if (this.details !== undefined) body.error.details = this.details;
    return body;
  }
}

export function badRequest(message: string, details?: unknown): LakehouseError {
  return new LakehouseError("bad_request", message, { details });
}

export function notFound(message: string): LakehouseError {
  return new LakehouseError("not_found", message);
}

export function conflict(message: string, details?: unknown): LakehouseError {
  return new LakehouseError("conflict", message, { details });
}

export function payloadTooLarge(message: string): LakehouseError {
  return new LakehouseError("payload_too_large", message);
}

export function errorResponse(err: LakehouseError, headers?: HeadersInit): Response {
  const h = new Headers(headers);
  h.set("content-type", "application/json; charset=utf-8");
  return new Response(JSON.stringify(err.toBody()), { status: err.status, headers: h });
}

/** Reads an error body from a non-2xx response without assuming it is ours. */
export async function errorFromResponse(res: Response, what: string): Promise<LakehouseError> {
  const text = await res.text().catch(() => "");
  try {
    const body = JSON.parse(text) as Partial<ErrorBody>;
    if (
      body.error &&
      typeof body.error.code === "string" &&
      typeof body.error.message === "string"
    ) {
      return new LakehouseError(body.error.code, body.error.message, {
        status: res.status,
        details: body.error.details,
      });
    }
  } catch {
    // not JSON: fall through
  }
  const snippet = text.slice(0, 200) || res.statusText;
  return new LakehouseError(
    res.status >= 500 ? "bad_gateway" : "bad_request",
    `${what}: HTTP ${res.status} ${snippet}`,
    {
      status: res.status >= 500 ? 502 : res.status,
    },
  );
}
