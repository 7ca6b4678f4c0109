// Parquet page compressors. Snappy is built into hyparquet-writer. ZSTD uses node:zlib's
// zstd (workerd's nodejs_compat), fed in frames of at most ZSTD_FRAME bytes because
// larger single calls fail in workerd; a ZSTD page made of concatenated frames is valid
// (the format allows it and readers such as DuckDB decode it).
import { concat } from "./reads";

type Compressor = (input: Uint8Array) => Uint8Array;

const ZSTD_FRAME = 32 * 1024;

export async function compressorsFor(
  codec: "SNAPPY" | "ZSTD" | "UNCOMPRESSED",
): Promise<Record<string, Compressor> | undefined> {
  if (codec !== "ZSTD") return undefined;
  const zlib = (await import("node:zlib" as string)) as {
    zstdCompressSync?: (b: Uint8Array) => Uint8Array;
  };
  const compress = zlib.zstdCompressSync;
  if (!compress)
    throw new Error(
      '[ingestd].compression = "zstd" needs node:zlib zstd, which this runtime lacks',
    );
  return {
    ZSTD: (input) => {
      if (input.byteLength <= ZSTD_FRAME) return new Uint8Array(compress(input));
      const frames: Uint8Array[] = [];
      let total = 0;
      for (let i = 0; i < input.byteLength; i += ZSTD_FRAME) {
        const f = compress(input.subarray(i, i + ZSTD_FRAME));
        frames.push(f);
        total += f.byteLength;
      }
      return concat(frames, total);
    },
  };
}
