// Writing a request body into R2 whatever its framing. R2's put needs a known length:
// with Content-Length the body streams straight in; without one (chunked, or a stream
// from another Worker) it goes through the shared R2Writer (shared/r2-writer.ts): cut into
// equal parts of PART_BYTES and sent as a multipart upload, so memory stays at a part or two
// whatever the size. A body that passes `cap` aborts the upload and fails with 413; nothing
// is left behind.
import { type PutResult, R2Writer } from "../../../shared/r2-writer";

export { PART_BYTES, type PutResult } from "../../../shared/r2-writer";

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
  const out = new R2Writer(bucket, key, { cap, capKey, put: options });
  const reader = body.getReader();
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      await out.write(r.value);
    }
    return await out.close();
  } catch (err) {
    await reader.cancel().catch(() => {});
    await out.abort();
    throw err;
  }
}
