// Writing bytes of unknown total length into R2 through a bucket binding, pushed chunk by
// chunk. R2's put needs a known length, so the bytes are cut into equal parts of PART_BYTES:
// one part or less is a single put at close(), more is a multipart upload whose parts are
// uploaded while the caller goes on producing (at most `maxInFlight` parts pending, so memory
// stays at maxInFlight + 1 parts whatever the size). Past `cap` bytes the writer fails with 413 and
// aborts the upload. Nothing is committed before close(): abort(), or a writer that is simply
// dropped, leaves no object (an incomplete multipart upload, which R2 aborts on its own after
// 7 days). Used by the storage Worker for unknown-length PUTs (workers/storage/src/put-stream.ts)
// and by the ingest Worker for its staged CSV and its Parquet objects (workers/ingest).
import { LakehouseError } from "./errors";

export const PART_BYTES = 8 * 1024 * 1024; // R2 needs ≥ 5 MiB for every part but the last, all equal

export interface PutResult {
  key: string;
  size: number;
  etag: string;
}

export interface R2WriterOptions {
  /** The most bytes the object may have. */
  cap: number;
  /** The config key naming the cap, for the 413's message. */
  capKey: string;
  put?: R2PutOptions;
  /** Parts uploading at once while the caller writes on (default 1). */
  maxInFlight?: number;
}

export function objectTooLarge(key: string, cap: number, capKey: string): LakehouseError {
  return new LakehouseError(
    "payload_too_large",
    `object ${JSON.stringify(key)} body exceeds the cap of ${cap} bytes (${capKey}); nothing was stored`,
  );
}

export class R2Writer {
  private part: Uint8Array;
  private filled = 0;
  private written = 0;
  private creating: Promise<R2MultipartUpload> | undefined;
  private readonly parts: Promise<R2UploadedPart>[] = [];
  private failure: unknown;
  private done = false;

  constructor(
    private readonly bucket: R2Bucket,
    readonly key: string,
    private readonly options: R2WriterOptions,
  ) {
    this.part = new Uint8Array(Math.min(PART_BYTES, options.cap + 1));
  }

  /** Bytes written so far. */
  get size(): number {
    return this.written;
  }

  /** Whether any part has been sent to R2 (a multipart upload exists). */
  get started(): boolean {
    return this.creating !== undefined;
  }

  /** Appends `chunk`; resolves once it is buffered (waits while too many parts are uploading). */
  async write(chunk: Uint8Array): Promise<void> {
    if (this.done) throw new Error(`R2Writer for ${this.key} is closed`);
    if (this.failure !== undefined) throw this.failure;
    this.written += chunk.byteLength;
    if (this.written > this.options.cap) {
      const err = objectTooLarge(this.key, this.options.cap, this.options.capKey);
      await this.abort();
      throw err;
    }
    let at = 0;
    while (at < chunk.byteLength) {
      // The buffer is smaller than a part only when the cap is: the cap check above keeps it from filling.
      const take = Math.min(chunk.byteLength - at, this.part.byteLength - this.filled);
      this.part.set(take === chunk.byteLength ? chunk : chunk.subarray(at, at + take), this.filled);
      this.filled += take;
      at += take;
      if (this.filled === PART_BYTES) await this.sendPart();
    }
  }

  /** Sends the full buffer as the next part, then waits while more than maxInFlight are pending. */
  private async sendPart(): Promise<void> {
    const bytes = this.part;
    this.part = new Uint8Array(0);
    this.filled = 0;
    this.creating ??= this.bucket.createMultipartUpload(this.key, this.options.put ?? {});
    const n = this.parts.length + 1;
    const sent = this.creating.then((upload) => upload.uploadPart(n, bytes));
    sent.catch((err) => (this.failure ??= err));
    this.parts.push(sent);
    const max = this.options.maxInFlight ?? 1;
    if (this.parts.length > max) await this.settle(this.parts.length - max);
    if (this.failure !== undefined) {
      const err = this.failure;
      await this.abort();
      throw err;
    }
    // The next buffer only once the earlier parts are through: at most maxInFlight + 1 parts held.
    this.part = new Uint8Array(PART_BYTES);
  }

  /** Waits for the first `count` parts. */
  private async settle(count: number): Promise<void> {
    await Promise.allSettled(this.parts.slice(0, count));
  }

  /** Commits the object: one put of what was written, or the multipart upload completed. */
  async close(): Promise<PutResult> {
    if (this.done) throw new Error(`R2Writer for ${this.key} is closed`);
    try {
      if (!this.creating) {
        const obj = await this.bucket.put(
          this.key,
          this.part.subarray(0, this.filled),
          this.options.put ?? {},
        );
        this.done = true;
        return { key: this.key, size: obj!.size, etag: obj!.etag };
      }
      if (this.filled > 0) {
        const last = this.part.subarray(0, this.filled);
        const n = this.parts.length + 1;
        this.parts.push(this.creating.then((upload) => upload.uploadPart(n, last)));
      }
      const parts = await Promise.all(this.parts);
      const upload = await this.creating;
      const obj = await upload.complete(parts);
      this.done = true;
      return { key: this.key, size: obj.size, etag: obj.etag };
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  /** Gives up: nothing is committed (a started multipart upload is aborted). Idempotent. */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.part = new Uint8Array(0);
    this.filled = 0;
    if (!this.creating) return;
    await this.settle(this.parts.length);
    try {
      await (await this.creating).abort();
    } catch {
      // never created, or already gone: nothing to abort
    }
  }
}
