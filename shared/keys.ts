// Storage object keys in URLs. The storage Worker's routes take a key after `/objects/`
// percent-encoded per segment (workers/storage/src/keys.ts decodes and validates it).
// The key rules themselves (DESIGN §6 Storage) are here, shared by the storage Worker and by
// ingest, which reads `?from_key=` through its own R2 binding: 1..1024 bytes, no NUL/CR/LF/tab,
// no leading "/", no "." or ".." segment (docs/hardening.md lists which dot spellings the URL
// parser resolves before a Worker sees them).
import { LakehouseError } from "./errors";

/** Encodes a key for a URL path: every segment percent-encoded, "/" kept (`a b/c` → `a%20b/c`). */
export function encodeKeyPath(key: string): string {
  return key.split("/").map(encodeURIComponent).join("/");
}

const MAX_KEY_BYTES = 1024;
const encoder = new TextEncoder();

/** Returns why `key` is not a valid object key, or undefined when it is. */
export function keyProblem(key: string): string | undefined {
  if (key.length === 0) return "key is empty";
  const bytes = encoder.encode(key).byteLength;
  if (bytes > MAX_KEY_BYTES) return `key is ${bytes} bytes; the limit is ${MAX_KEY_BYTES}`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL and line breaks are what a key may not hold
  const bad = /[\u0000\r\n\t]/.exec(key);
  if (bad) {
    const name = { "\u0000": "NUL", "\r": "CR", "\n": "LF", "\t": "tab" }[bad[0]]!;
    return `key contains a ${name} character at offset ${bad.index}`;
  }
  if (key.startsWith("/")) return 'key starts with "/"';
  // "." too (issue #21): `a/./b` would be a second name for what a path resolver calls `a/b`.
  const segment = key.split("/").find((s) => s === ".." || s === ".");
  if (segment !== undefined)
    return `key contains a "${segment}" path segment ("." and ".." segments are not allowed)`;
  return undefined;
}

export function validateKey(key: string): string {
  const problem = keyProblem(key);
  if (problem)
    throw new LakehouseError(
      "bad_request",
      `invalid object key ${JSON.stringify(key.slice(0, 200))}: ${problem}`,
    );
  return key;
}
