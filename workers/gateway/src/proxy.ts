// Forwarding /v1/<family>/... to the family's Worker with /v1 stripped: body caps
// checked from the declared length before anything is read, a failing upstream
// turned into 502 naming the family, a silent one into 504.
import { LakehouseError } from "../../../shared/errors";
import { REQUEST_ID_HEADER } from "../../../shared/app";
import { SERVICES, type ServiceName } from "../../../shared/clients";

export type Family = (typeof SERVICES)[ServiceName]["family"];

export const FAMILY_TO_SERVICE: Record<Family, ServiceName> = Object.fromEntries(
  Object.entries(SERVICES).map(([service, { family }]) => [family, service]),
) as Record<Family, ServiceName>;

export function isFamily(name: string): name is Family {
  return Object.hasOwn(FAMILY_TO_SERVICE, name);
}

/** Counts streamed bytes and errors the stream once they pass the cap (bodies with no declared length). */
function capStream(body: ReadableStream<Uint8Array>, cap: number, family: string): ReadableStream<Uint8Array> {
  let seen = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.byteLength;
        if (seen > cap) {
          controller.error(new LakehouseError("payload_too_large", `request body exceeds the ${family} cap of ${cap} bytes`));
          return;
        }
        controller.enqueue(chunk);
      },
    }),
  );
}

export function checkDeclaredLength(request: Request, cap: number, family: string): void {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > cap) {
    throw new LakehouseError(
      "payload_too_large",
      `request body of ${declared} bytes exceeds the ${family} cap of ${cap} bytes ([gateway.body_caps].${family})`,
    );
  }
}

export async function forward(
  request: Request,
  upstream: Fetcher,
  family: Family,
  options: { cap: number; timeoutMs: number; requestId: string },
): Promise<Response> {
  checkDeclaredLength(request, options.cap, family);
  const url = new URL(request.url);
  const target = new URL(url.pathname.replace(/^\/v1/, "") + url.search, `https://${family}.internal`);
  const headers = new Headers(request.headers);
  headers.set(REQUEST_ID_HEADER, options.requestId);
  // The service sits behind auth already; it never needs the caller's secret.
  headers.delete("authorization");

  let body: ReadableStream<Uint8Array> | null = request.body;
  if (body && request.headers.get("content-length") === null) body = capStream(body, options.cap, family);

  const timeout = AbortSignal.timeout(options.timeoutMs);
  try {
    return await upstream.fetch(target.toString(), {
      method: request.method,
      headers,
      body,
      redirect: "manual",
      signal: timeout,
    });
  } catch (err) {
    if (err instanceof LakehouseError) throw err;
    if (timeout.aborted) {
      throw new LakehouseError("gateway_timeout", `${family} service did not answer within ${options.timeoutMs} ms`);
    }
    const cause = err instanceof Error ? err.message : String(err);
    if (/exceeds the .* cap/.test(cause)) throw new LakehouseError("payload_too_large", cause);
    throw new LakehouseError("bad_gateway", `${family} service failed: ${cause}`);
  }
}
