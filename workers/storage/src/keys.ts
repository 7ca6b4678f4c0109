// Object key rules (DESIGN §6 Storage): 1..1024 bytes of UTF-8; no NUL, CR, LF or tab;
// no leading "/"; no ".." path segment. Keys arrive percent-encoded in the URL
// path (`/storage/objects/<key>`), so "/" inside a key may be literal or %2F.
import { LakehouseError } from "../../../shared/errors";

const MAX_KEY_BYTES = 1024;
const encoder = new TextEncoder();

/** Returns why `key` is not a valid object key, or undefined when it is. */
export function keyProblem(key: string): string | undefined {
  if (key.length === 0) return "key is empty";
  const bytes = encoder.encode(key).byteLength;
  if (bytes > MAX_KEY_BYTES) return `key is ${bytes} bytes; the limit is ${MAX_KEY_BYTES}`;
  const bad = /[\u0000\r\n\t]/.exec(key);
  if (bad) {
    const name = { "\u0000": "NUL", "\r": "CR", "\n": "LF", "\t": "tab" }[bad[0]]!;
    return `key contains a ${name} character at offset ${bad.index}`;
  }
  if (key.startsWith("/")) return 'key starts with "/"';
  const segment = key.split("/").find((s) => s === "..");
  if (segment !== undefined) return `key contains a "${segment}" path segment`;
  return undefined;
}

export function validateKey(key: string): string {
  const problem = keyProblem(key);
  if (problem) throw new LakehouseError("bad_request", `invalid object key ${JSON.stringify(key.slice(0, 200))}: ${problem}`);
  return key;
}

/** The key from a request path after `prefix` (e.g. "/storage/objects/"), percent-decoded and validated. */
export function keyFromPath(url: string, prefix: string): string {
  const pathname = new URL(url).pathname;
  const at = pathname.indexOf(prefix);
  const raw = at < 0 ? "" : pathname.slice(at + prefix.length);
  let key: string;
  try {
    key = decodeURIComponent(raw);
  } catch {
    throw new LakehouseError("bad_request", `invalid object key ${JSON.stringify(raw.slice(0, 200))}: malformed percent-encoding`);
  }
  return validateKey(key);
}

// Encoding a key for a URL path (the other direction): encodeKeyPath in shared/keys.ts.
