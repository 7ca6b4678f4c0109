// Reading a byte stream in large batches. A request body reaches the ingest Worker in 4 KiB
// chunks (through the gateway's service binding) and an R2 body in small chunks too: one JS read
// per chunk, then one parse step, digest write and staging write per chunk, cost more than the
// conversion. workerd's BYOB reader has `readAtLeast(n, view)`, which fills a buffer of ours with
// at least n bytes in native code before resolving: one JS read per batch instead of dozens.
// Elsewhere (Node in tests, a stream that is not a byte stream) reads are gathered in JS.

type AtLeastReader = ReadableStreamBYOBReader & {
  readAtLeast?: (min: number, view: Uint8Array) => Promise<ReadableStreamReadResult<Uint8Array>>;
};

export interface BatchReader {
  /** The next batch: `size` bytes, fewer only at the end; undefined once the stream has ended. */
  read(): Promise<Uint8Array | undefined>;
  cancel(): Promise<void>;
}

/** Reads `stream` in batches of `size` bytes (each a fresh buffer: callers may keep it). */
export function batchReader(stream: ReadableStream<Uint8Array>, size: number): BatchReader {
  let byob: AtLeastReader | undefined;
  try {
    byob = stream.getReader({ mode: "byob" }) as AtLeastReader;
  } catch {
    byob = undefined;
  }
  if (byob && typeof byob.readAtLeast !== "function") {
    byob.releaseLock();
    byob = undefined;
  }
  if (byob) {
    const reader = byob;
    let ended = false;
    return {
      async read() {
        while (!ended) {
          const r = await reader.readAtLeast!(size, new Uint8Array(size));
          if (r.done) ended = true;
          if (r.value && r.value.byteLength > 0) return r.value;
        }
        return undefined;
      },
      cancel: () => reader.cancel().catch(() => {}),
    };
  }
  const reader = stream.getReader();
  let ended = false;
  return {
    async read() {
      const parts: Uint8Array[] = [];
      let n = 0;
      while (n < size && !ended) {
        const r = await reader.read();
        if (r.done) ended = true;
        else if (r.value.byteLength > 0) {
          parts.push(r.value);
          n += r.value.byteLength;
        }
      }
      return n === 0 ? undefined : concat(parts, n);
    },
    cancel: () => reader.cancel().catch(() => {}),
  };
}

/** `stream` re-chunked into batches of `size` bytes (see batchReader). */
export function batched(
  stream: ReadableStream<Uint8Array>,
  size: number,
): ReadableStream<Uint8Array> {
  const reader = batchReader(stream, size);
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const batch = await reader.read();
        if (batch) controller.enqueue(batch);
        else controller.close();
      },
      cancel: () => reader.cancel(),
    },
    { highWaterMark: 0 },
  );
}

export function concat(parts: Uint8Array[], n: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
