// Bounds on what a request may make a Worker hold (issue #12, "trust nothing"):
// - a body read in bytes, never more than a cap (413 before the rest is read);
// - JSON nested deeper than MAX_JSON_DEPTH refused (400) before it is parsed or stored;
// - a Durable Object / service RPC refused for its serialized size answered 413, not 500.
// Used by readJson (shared/app.ts) and by the services' own body readers (observer, mcp, embed).
import type { Context } from "hono";
import { badRequest, payloadTooLarge } from "./errors";

/**
 * Deepest nesting of arrays/objects any stored user JSON may have (pathway content and tags,
 * vector metadata, observer events, matrix playbook tags, any JSON body). 64 is far beyond
 * what a document needs and far below what makes JSON.stringify/structured clone recurse
 * out of stack.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * The nesting depth of JSON text, scanning at most until `max` is exceeded (then returns
 * max + 1): linear, no allocation, strings (with escapes) skipped. Does not validate JSON.
 */
export function jsonTextDepth(text: string, max = MAX_JSON_DEPTH): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 92 /* \ */) i++;
      else if (ch === 34 /* " */) inString = false;
      continue;
    }
    if (ch === 34) inString = true;
    else if (ch === 123 /* { */ || ch === 91 /* [ */) {
      if (++depth > deepest) {
        deepest = depth;
        if (deepest > max) return deepest;
      }
    } else if (ch === 125 /* } */ || ch === 93 /* ] */) depth--;
  }
  return deepest;
}

/** The nesting depth of a value (iterative, so a deep value cannot overflow the stack); stops past `max`. */
export function jsonValueDepth(value: unknown, max = MAX_JSON_DEPTH): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    const here = d + 1;
    if (here > deepest) {
      deepest = here;
      if (deepest > max) return deepest;
    }
    for (const child of Array.isArray(v) ? v : Object.values(v as Record<string, unknown>)) {
      if (child !== null && typeof child === "object") stack.push([child, here]);
    }
  }
  return deepest;
}

/** 400 when JSON text nests deeper than `max`; `what` names it (`request body`, `items[3].metadata`). */
export function assertJsonTextDepth(
  text: string,
  what = "request body",
  max = MAX_JSON_DEPTH,
): void {
  if (jsonTextDepth(text, max) > max)
    throw badRequest(`${what} is JSON nested deeper than the depth limit of ${max}`);
}

/** 400 when a value nests deeper than `max`. */
export function assertJsonValueDepth(value: unknown, what: string, max = MAX_JSON_DEPTH): void {
  if (jsonValueDepth(value, max) > max)
    throw badRequest(`${what} is JSON nested deeper than the depth limit of ${max}`);
}

/**
 * Parses JSON text within the depth limit: too deep → 400 naming the limit; not JSON → 400;
 * a RangeError from the parser (stack) → 400, never 500.
 */
export function parseJsonBounded(
  text: string,
  what = "request body",
  max = MAX_JSON_DEPTH,
): unknown {
  if (text.trim() === "") throw badRequest(`${what} is empty; expected JSON`);
  assertJsonTextDepth(text, what, max);
  try {
    return JSON.parse(text);
  } catch (err) {
    if (err instanceof RangeError)
      throw badRequest(`${what} is JSON nested deeper than the depth limit of ${max}`);
    throw badRequest(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}

/** UTF-8 length of a string without encoding it. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (
      c >= 0xd800 &&
      c <= 0xdbff &&
      i + 1 < s.length &&
      (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00
    ) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/**
 * Reads a request body as text, never holding more than `cap` bytes: a declared
 * Content-Length over the cap is refused before reading, a stream that grows past it is
 * cancelled; both are 413 naming `what` and the cap. The text is cached on the Hono request,
 * so a route validator's c.req.json() reads the same text.
 */
export async function readBoundedText(c: Context, cap: number, what: string): Promise<string> {
  const declared = Number(c.req.header("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > cap)
    throw payloadTooLarge(`body of ${declared} bytes is over the ${cap}-byte cap (${what})`);
  const cache = c.req.bodyCache as { text?: Promise<string> };
  if (cache.text) {
    const text = await cache.text;
    const bytes = utf8Length(text);
    if (bytes > cap)
      throw payloadTooLarge(`body of ${bytes} bytes is over the ${cap}-byte cap (${what})`);
    return text;
  }
  const text = await readStreamBounded(c.req.raw.body, cap, what);
  cache.text = Promise.resolve(text);
  return text;
}

/** A body stream as text within `cap` bytes (413 when over; the stream is cancelled). */
export async function readStreamBounded(
  body: ReadableStream<Uint8Array> | null,
  cap: number,
  what: string,
): Promise<string> {
  const bytes = await readBytesBounded(body, cap, () =>
    payloadTooLarge(`body of more than ${cap} bytes is over the ${cap}-byte cap (${what})`),
  );
  return new TextDecoder().decode(bytes);
}

/**
 * A body stream's bytes, never holding more than `cap`: the chunk that crosses it cancels the
 * stream and throws `over()` (the caller's 413, worded for its own cap).
 */
export async function readBytesBounded(
  body: ReadableStream<Uint8Array> | null,
  cap: number,
  over: () => Error,
): Promise<Uint8Array> {
  if (!body) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > cap) {
      await reader.cancel().catch(() => {});
      throw over();
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const all = new Uint8Array(total);
  let o = 0;
  for (const ch of chunks) {
    all.set(ch, o);
    o += ch.byteLength;
  }
  return all;
}

/** workerd's refusal of an RPC argument or result by its serialized size (32 MiB). */
export function isRpcSizeError(err: unknown): boolean {
  const m = err instanceof Error ? err.message : typeof err === "string" ? err : "";
  return /Serialized RPC arguments or return values are limited|serialized RPC data exceeds|serialized size|too large to serialize/i.test(
    m,
  );
}

/** Cuts a string to at most `maxBytes` UTF-8 bytes, the cut marked `…[truncated N bytes]`. */
export function truncateUtf8(s: string, maxBytes: number): string {
  if (s.length <= maxBytes / 3) return s; // cannot be over: ≤ 3 bytes per UTF-16 unit
  const total = utf8Length(s);
  if (total <= maxBytes) return s;
  // The marker's length depends on N; reserve room for the widest N.
  const reserve = utf8Length(`…[truncated ${total} bytes]`);
  const room = Math.max(0, maxBytes - reserve);
  const buf = new Uint8Array(room);
  const { read } = new TextEncoder().encodeInto(s, buf);
  const kept = s.slice(0, read);
  return `${kept}…[truncated ${total - utf8Length(kept)} bytes]`;
}
