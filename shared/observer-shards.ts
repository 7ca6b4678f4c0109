// Which Observer object takes an event ([observerd].shards, docs/observer.md "Shards"): one
// implementation for the two Workers that write events — the observer Worker (POST
// /observer/events, and /observer/event over a service binding) and the gateway, which sends
// POST /v1/observer/event straight to the chosen object (issue #15: no second Worker hop).
//
// The span: before a shard > 0 takes its first write, shard 0 durably records how many shards
// may hold ops. The object does that itself (Observer.record), so every writer, whichever Worker
// it runs in, goes through the same code and no refused request writes anything.
import { errorResponse, LakehouseError } from "./errors";

/** Shard i's object name: shard 0 keeps the single-object name, so a deployment that had one object keeps its log there. */
export function observerShardName(i: number): string {
  return i === 0 ? "default" : `shard-${i}`;
}

/** FNV-1a (32-bit) of the key (the request id), mod n: the same key lands on the same shard in every isolate and Worker. */
export function observerShardOf(key: string, n: number): number {
  if (n <= 1) return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % n;
}

/** Shard i's stub in an Observer namespace (the observer Worker's own binding, or the gateway's cross-script one). */
export function observerShardStub<T extends Rpc.DurableObjectBranded | undefined>(
  ns: DurableObjectNamespace<T>,
  i: number,
): DurableObjectStub<T> {
  return ns.get(ns.idFromName(observerShardName(i)));
}

/** The shard a write keyed by `key` (the request id) goes to, among `n` configured shards. */
export function observerWriteShard<T extends Rpc.DurableObjectBranded | undefined>(
  ns: DurableObjectNamespace<T>,
  n: number,
  key: string,
): { stub: DurableObjectStub<T>; shard: number } {
  const shard = observerShardOf(key, n);
  return { stub: observerShardStub(ns, shard), shard };
}

/**
 * POST /observer/event in one call to the shard's object (Observer.event): the body as
 * received, its declared Content-Length (null when chunked) and the shard index. The object
 * runs the observer's own checks (its [observerd].max_event_bytes, the JSON depth limit,
 * ObservedOpInput with the seed's defaults) and answers what the observer Worker's route
 * answers: the record, or the error's code and message (errors do not survive RPC as objects).
 */
export type ObserverEventAnswer =
  | { ok: true; ring_size: number; id: number }
  | { ok: false; code: string; message: string };

export interface ObserverEventTarget {
  event(
    body: ArrayBuffer | Uint8Array | string,
    declaredLength: number | null,
    shard: number,
  ): Promise<ObserverEventAnswer>;
}

/** The HTTP answer to POST /observer/event, the same from the observer Worker and from the gateway. */
export function observerEventResponse(a: ObserverEventAnswer): Response {
  if (!a.ok) return errorResponse(new LakehouseError(a.code, a.message));
  return new Response(JSON.stringify({ accepted: true, ring_size: a.ring_size, id: a.id }), {
    status: 200,
    headers: { "content-type": "application/json" },
  });
}
