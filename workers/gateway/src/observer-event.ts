// POST /v1/observer/event straight to the request's Observer object (issue #15). Through the
// observer Worker, each event crossed two Workers (gateway → service binding → observer Worker →
// object); the gateway binds the Observer namespace of lakehouse-observer itself
// (OBSERVER_OBJECTS in wrangler.toml, a cross-script Durable Object binding) and makes the one
// call the observer Worker's route makes: Observer.event, which runs every check the route runs
// (the observer's own body cap, JSON depth, ObservedOpInput) and records the op. So the answer —
// status, error code and message, body — is the route's. The shard is chosen as the observer
// Worker chooses it (shared/observer-shards.ts: FNV-1a of the request id mod [observerd].shards),
// and the object records the span in shard 0 before its first write, whichever Worker called.
// Every other /v1/observer route still goes through the observer Worker.
import { LakehouseError } from "../../../shared/errors";
import { readBytesBounded } from "../../../shared/json-limits";
import {
  type ObserverEventTarget,
  observerEventResponse,
  observerWriteShard,
} from "../../../shared/observer-shards";
import { checkDeclaredLength, tooLarge } from "./proxy";

/** The binding name in wrangler.toml (OBSERVER is the observer Worker's service binding). */
export const OBSERVER_OBJECTS = "OBSERVER_OBJECTS";

export async function observerEvent(
  request: Request,
  objects: DurableObjectNamespace,
  options: { cap: number; timeoutMs: number; requestId: string; shards: number },
): Promise<Response> {
  // The gateway's own cap first, worded as for every forwarded body ([gateway.body_caps].observer).
  checkDeclaredLength(request, options.cap, "observer");
  const declared = request.headers.get("content-length");
  const body =
    declared !== null
      ? await request.arrayBuffer()
      : await readBytesBounded(request.body, options.cap, () =>
          tooLarge("observer", options.cap, "with no declared length"),
        );
  const { stub, shard } = observerWriteShard(objects, options.shards, options.requestId);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new LakehouseError(
            "gateway_timeout",
            `observer service did not answer within ${options.timeoutMs} ms`,
          ),
        ),
      options.timeoutMs,
    );
  });
  try {
    const answer = await Promise.race([
      (stub as unknown as ObserverEventTarget).event(
        body,
        declared === null ? null : Number(declared),
        shard,
      ),
      timeout,
    ]);
    return observerEventResponse(answer);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
