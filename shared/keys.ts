// Storage object keys in URLs. The storage Worker's routes take a key after `/objects/`
// percent-encoded per segment (workers/storage/src/keys.ts decodes and validates it).

/** Encodes a key for a URL path: every segment percent-encoded, "/" kept (`a b/c` → `a%20b/c`). */
export function encodeKeyPath(key: string): string {
  return key.split("/").map(encodeURIComponent).join("/");
}
