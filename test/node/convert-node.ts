// The ingest converter run in Node on a CSV file (no Workers): for tests (test/node/ingest-csv.test.ts),
// profiling (`node --cpu-prof`) and the side-by-side comparison (bench/ingest-compare.ts).
// workerd's crypto.DigestStream is shimmed with node:crypto.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import {
  type ConvertOptions,
  type ConvertOutcome,
  convertCsv,
} from "../../workers/ingest/src/ingest.ts";

export function shimDigestStream(): void {
  const c = globalThis.crypto as unknown as { DigestStream?: unknown };
  if (c.DigestStream) return;
  class DigestStream extends WritableStream<Uint8Array> {
    digest: Promise<ArrayBuffer>;
    constructor(_alg: string) {
      const h = createHash("sha256");
      let done!: (b: ArrayBuffer) => void;
      const digest = new Promise<ArrayBuffer>((r) => (done = r));
      super({
        write(chunk) {
          h.update(chunk);
        },
        close() {
          const b = h.digest();
          done(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
        },
      });
      this.digest = digest;
    }
  }
  Object.defineProperty(globalThis.crypto, "DigestStream", { value: DigestStream });
}

export const DEFAULTS: ConvertOptions = {
  sampleRows: 1000,
  rowGroupRows: 100_000,
  rowGroupBytes: 16 * 1024 * 1024,
  codec: "SNAPPY",
};

/** Converts a CSV file (re-read after a widening, as ingest does); returns the Parquet bytes and the outcome. */
export async function convertFile(
  path: string,
  options: Partial<ConvertOptions> = {},
): Promise<{ parquet: Uint8Array; outcome: ConvertOutcome & { kind: "done" }; widened: string[] }> {
  shimDigestStream();
  let types = options.types;
  const widened: string[] = [];
  for (let attempt = 0; attempt < 200; attempt++) {
    const parts: Uint8Array[] = [];
    const src = Readable.toWeb(
      createReadStream(path, { highWaterMark: 64 * 1024 }),
    ) as unknown as ReadableStream<Uint8Array>;
    const outcome = await convertCsv(src, async (b) => void parts.push(b.slice()), {
      ...DEFAULTS,
      ...options,
      types,
    });
    if (outcome.kind === "widen") {
      types = outcome.types;
      widened.push(`${outcome.column} → ${outcome.to}`);
      continue;
    }
    const size = parts.reduce((a, p) => a + p.length, 0);
    const parquet = new Uint8Array(size);
    let at = 0;
    for (const p of parts) parquet.set(p, at), (at += p.length);
    return { parquet, outcome, widened };
  }
  throw new Error("type inference did not settle");
}

// CLI (for `node --cpu-prof`): npx esbuild test/node/convert-node.ts --bundle --platform=node --format=esm
//   --packages=external --outfile=/tmp/convert-node.mjs && node /tmp/convert-node.mjs <csv> [out.parquet]
if (process.argv[1] && /convert-node\.(ts|mjs|js)$/.test(process.argv[1]) && process.argv[2]) {
  const t0 = performance.now();
  const { parquet, outcome, widened } = await convertFile(process.argv[2]);
  const s = (performance.now() - t0) / 1000;
  const { statSync, writeFileSync } = await import("node:fs");
  const mb = statSync(process.argv[2]).size / 1048576;
  if (process.argv[3]) writeFileSync(process.argv[3], parquet);
  console.log(
    JSON.stringify({
      rows: outcome.rows,
      seconds: +s.toFixed(3),
      mb_s: +(mb / s).toFixed(1),
      parquet_bytes: parquet.length,
      schema: outcome.schema,
      widened,
      heap_mb: +(process.memoryUsage().heapUsed / 1048576).toFixed(1),
    }),
  );
}
