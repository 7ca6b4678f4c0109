// Object key rules (DESIGN §6 Storage; keyProblem in shared/keys.ts, which ingest also applies to
// from_key): 1..1024 bytes of UTF-8; no NUL, CR, LF or tab; no leading "/"; no "." or ".." path
// segment. Keys arrive percent-encoded in the URL path (`/storage/objects/<key>`), so "/" inside a key may be literal or %2F.
import { LakehouseError } from "../../../shared/errors";
import { validateKey } from "../../../shared/keys";

export { keyProblem, validateKey } from "../../../shared/keys";

/**
 * The key from a request path after `prefix` (e.g. "/storage/objects/"), without a trailing
 * `suffix` (e.g. "/complete"), percent-decoded and validated.
 */
export function keyFromPath(url: string, prefix: string, suffix?: string): string {
  const pathname = new URL(url).pathname;
  const at = pathname.indexOf(prefix);
  let raw = at < 0 ? "" : pathname.slice(at + prefix.length);
  if (suffix && raw.endsWith(suffix)) raw = raw.slice(0, -suffix.length);
  let key: string;
  try {
    key = decodeURIComponent(raw);
  } catch {
    throw new LakehouseError(
      "bad_request",
      `invalid object key ${JSON.stringify(raw.slice(0, 200))}: malformed percent-encoding`,
    );
  }
  return validateKey(key);
}

// Encoding a key for a URL path (the other direction): encodeKeyPath in shared/keys.ts.
