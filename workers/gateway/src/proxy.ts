// Forwarding a public request (already matched against routes.ts) to the family's Worker:
// body caps, a failing upstream turned into 502 naming the family, a silent one into 504.
//
// Body caps. A declared Content-Length over the cap is a 413 before anything is read. A body
// with no declared length (chunked) is counted while it streams; once it passes the cap the
// stream is errored and the answer is a 413 whatever the service said. A service cannot
// always tell an errored request stream from a clean end, so the gateway also tells it the
// cap (BODY_CAP_HEADER) and passes on the chunk that crosses it: the service sees more bytes
// than the cap allows and refuses to commit (storage aborts its upload). Nothing is cut
// silently: a body is forwarded whole or answered 413.

import { REQUEST_ID_HEADER } from "../../../shared/app";
import { BODY_CAP_HEADER } from "../../../shared/body-cap";
import { SERVICES, type ServiceName } from "../../../shared/clients";
import { LakehouseError } from "../../../shared/errors";

/** Families served by another family's Worker (DESIGN §6: the Iceberg REST catalog is the catalog Worker's). */
export const EXTRA_FAMILIES = { iceberg: "catalog" } as const satisfies Record<string, ServiceName>;

export type Family = (typeof SERVICES)[ServiceName]["family"] | keyof typeof EXTRA_FAMILIES;

export const FAMILY_TO_SERVICE: Record<Family, ServiceName> = {
  ...Object.fromEntries(Object.entries(SERVICES).map(([service, { family }]) => [family, service])),
  ...EXTRA_FAMILIES,
} as Record<Family, ServiceName>;

export function isFamily(name: string): name is Family {
  return Object.hasOwn(FAMILY_TO_SERVICE, name);
}

export function tooLarge(family: string, cap: number, what: string): LakehouseError {
  return new LakehouseError(
    "payload_too_large",
    `request body ${what} exceeds the ${family} cap of ${cap} bytes ([gateway.body_caps].${family})`,
  );
}

export function checkDeclaredLength(request: Request, cap: number, family: string): void {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > cap)
    throw tooLarge(family, cap, `of ${declared} bytes`);
}

/**
 * Counts a body of unknown length. Chunks pass until the count is over `cap`; the chunk that
 * crosses it is still passed (so the service sees more than the cap), then the stream errors.
 */
function capStream(
  body: ReadableStream<Uint8Array>,
  cap: number,
  family: string,
  state: { seen: number; over: boolean },
): ReadableStream<Uint8Array> {
  // preventCancel: once the cap is crossed the caller's body is drained, not cancelled (drainAfterCap).
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        if (state.over) {
          controller.error(tooLarge(family, cap, "with no declared length"));
          return;
        }
        state.seen += chunk.byteLength;
        if (state.seen > cap) state.over = true;
        controller.enqueue(chunk);
      },
      flush(controller) {
        if (state.over) controller.error(tooLarge(family, cap, "with no declared length"));
      },
    }),
    { preventCancel: true },
  );
}

/** Most bytes of a caller's body read and dropped after its cap was crossed (drainAfterCap). */
const DRAIN_MAX_BYTES = 16 * 1024 * 1024;

/**
 * Reads and drops what is left of a body refused for its size, up to DRAIN_MAX_BYTES, then
 * cancels the rest. Answering before the caller finished sending left the connection in a state
 * where the local runtime lost the NEXT request on it (about 3 in 100); a drained body does not.
 */
async function drainAfterCap(body: ReadableStream<Uint8Array>): Promise<void> {
  // The pipe releases its lock on the body once it has settled.
  for (let i = 0; i < 100 && body.locked; i++) await new Promise((r) => setTimeout(r, 0));
  if (body.locked) return;
  const reader = body.getReader();
  let drained = 0;
  try {
    while (drained <= DRAIN_MAX_BYTES) {
      const { done, value } = await reader.read();
      if (done) return;
      drained += value.byteLength;
    }
    await reader.cancel();
  } catch {
    // the caller went away: nothing left to drain
  }
}

export async function forward(
  request: Request,
  upstream: Fetcher,
  family: Family,
  options: { cap: number; timeoutMs: number; requestId: string; path?: string },
): Promise<Response> {
  checkDeclaredLength(request, options.cap, family);
  const url = new URL(request.url);
  const path = options.path ?? url.pathname.replace(/^\/v1/, "");
  const target = new URL(path + url.search, `https://${family}.internal`);
  const headers = new Headers(request.headers);
  headers.set(REQUEST_ID_HEADER, options.requestId);
  // The service sits behind auth already; it never needs the caller's secret.
  headers.delete("authorization");
  headers.delete(BODY_CAP_HEADER);

  let body: ReadableStream<Uint8Array> | null = request.body;
  const count = { seen: 0, over: false };
  if (body && request.headers.get("content-length") === null) {
    body = capStream(body, options.cap, family, count);
    headers.set(BODY_CAP_HEADER, String(options.cap));
  }

  const timeout = AbortSignal.timeout(options.timeoutMs);
  let res: Response;
  try {
    res = await upstream.fetch(target.toString(), {
      method: request.method,
      headers,
      body,
      redirect: "manual",
      signal: timeout,
    });
  } catch (err) {
    if (count.over) {
      if (request.body) await drainAfterCap(request.body);
      throw tooLarge(family, options.cap, "with no declared length");
    }
    if (err instanceof LakehouseError) throw err;
    if (timeout.aborted) {
      throw new LakehouseError(
        "gateway_timeout",
        `${family} service did not answer within ${options.timeoutMs} ms`,
      );
    }
    const cause = err instanceof Error ? err.message : String(err);
    if (/exceeds the .* cap/.test(cause)) throw new LakehouseError("payload_too_large", cause);
    throw new LakehouseError("bad_gateway", `${family} service failed: ${cause}`);
  }
  if (count.over) {
    // Whatever the service answered, the body was not delivered whole.
    await res.body?.cancel().catch(() => {});
    if (request.body) await drainAfterCap(request.body);
    throw tooLarge(family, options.cap, "with no declared length");
  }
  return res;
}
