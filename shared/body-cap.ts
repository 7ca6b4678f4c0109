// The gateway's body cap, passed on to the service with a forwarded body of no declared
// length (chunked). The gateway counts such a body and errors it past the cap, but to the
// service an errored request stream may look like a clean end; so the gateway passes on the
// chunk that crosses the cap and names the cap in this header. A service that commits a
// streamed body (storage's PUT, ingest's staging) refuses to commit more bytes than this.
// Only the gateway sets it (it drops a caller's copy); services are reachable only through
// bindings, so it can be trusted.
export const BODY_CAP_HEADER = "x-lakehouse-body-cap";

/** The cap named by the gateway, or undefined when the request did not come through it chunked. */
export function gatewayBodyCap(headers: Headers): number | undefined {
  const raw = headers.get(BODY_CAP_HEADER);
  if (raw === null || !/^\d+$/.test(raw.trim())) return undefined;
  return Number(raw);
}
