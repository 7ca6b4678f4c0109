// Writing a request body into R2 whatever its framing. R2's put needs a known length:
// with Content-Length the body streams straight in; without one (chunked, or a stream
// from another Worker) it is cut into equal parts of PART_BYTES and sent as a multipart
// upload, so memory stays at one part whatever the size. A body that passes `cap`
// aborts the upload and fails with 413; nothing is left behind.
import { LakehouseError } from "../../../shared/errors";

export const PART_BYTES = 8 * 1024 * 1024; // R2 needs ≥ 5 MiB for every part but the last, all equal

export interface PutResult {
  key: string;
  size: number;
  etag: string;
}

function tooLarge(key: string, cap: number, what: string, capKey: string): LakehouseError {
  return new LakehouseError("payload_too_large", `object ${JSON.stringify(key)} ${what} exceeds the cap of ${cap} bytes (${capKey}); nothing was stored`);
}

/** Reads from `reader` until `buf` is full or the stream ends; returns the bytes filled. */
async function fill(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  buf: Uint8Array,
  carry: { chunk?: Uint8Array },
): Promise<{ filled: number; done: boolean }> {
  let filled = 0;
  while (filled < buf.byteLength) {
    let chunk = carry.chunk;
    carry.chunk = undefined;
    if (!chunk) {
      const r = await reader.read();
      if (r.done) return { filled, done: true };
      chunk = r.value;
    }
    const take = Math.min(chunk.byteLength, buf.byteLength - filled);
    buf.set(chunk.subarray(0, take), filled);
    filled += take;
    if (take < chunk.byteLength) carry.chunk = chunk.subarray(take);
  }
  return { filled, done: false };
}

/**
 * Puts a stream of unknown length, enforcing `cap`. The object is committed (put, or the
 * multipart upload completed) only after the stream ended normally with at most `cap` bytes;
 * a stream that errors or passes the cap aborts the upload and leaves no object.
 */
export async function putUnknownLength(
  bucket: R2Bucket,
  key: string,
  body: ReadableStream<Uint8Array>,
  cap: number,
  options: R2PutOptions = {},
  capKey = "[storaged].max_put_bytes",
): Promise<PutResult> {
  const reader = body.getReader();
  const carry: { chunk?: Uint8Array } = {};
  const first = new Uint8Array(Math.min(PART_BYTES, cap + 1));
  const head = await fill(reader, first, carry);
  if (head.filled > cap) {
    await reader.cancel().catch(() => {});
    throw tooLarge(key, cap, "body", capKey);
  }
  if (head.done) {
    const obj = await bucket.put(key, first.subarray(0, head.filled), options);
    return { key, size: obj!.size, etag: obj!.etag };
  }
  // Larger than one part: multipart upload with equal parts.
  const upload = await bucket.createMultipartUpload(key, options);
  const parts: R2UploadedPart[] = [];
  let size = 0;
  try {
    let buf = first;
    let state = head;
    for (;;) {
      size += state.filled;
      if (size > cap) throw tooLarge(key, cap, "body", capKey);
      if (state.filled > 0) parts.push(await upload.uploadPart(parts.length + 1, buf.subarray(0, state.filled)));
      if (state.done) break;
      buf = new Uint8Array(PART_BYTES);
      state = await fill(reader, buf, carry);
      // A final empty read after an exactly-full part ends the upload.
    }
    const obj = await upload.complete(parts);
    return { key, size: obj.size, etag: obj.etag };
  } catch (err) {
    await reader.cancel().catch(() => {});
    await upload.abort().catch(() => {});
    throw err;
  }
}
