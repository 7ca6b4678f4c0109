// Type inference on strings, for callers that hold text (tests, tools): the same rules the
// byte path applies while ingesting (bytes.ts; docs/storage-layout.md "Type inference").
import type { ColumnType } from "../../../shared/types";
import { F_ALL, fits, parseTimestampBytes, typeOfBits } from "./bytes";

const encoder = new TextEncoder();

/** The type of a column of sampled values: the first of int64, float64, bool, date, timestamp every non-null value fits, else string. */
export function inferColumn(
  values: readonly string[],
  nullStrings: readonly string[] = [""],
): { type: ColumnType; nullable: boolean } {
  let bits = F_ALL;
  let seen = false;
  let nullable = false;
  for (const v of values) {
    if (nullStrings.includes(v)) {
      nullable = true;
      continue;
    }
    seen = true;
    if (bits === 0) continue;
    const b = encoder.encode(v);
    bits = v.includes('"') ? 0 : fits(b, 0, b.length, bits);
  }
  return { type: typeOfBits(bits, seen), nullable: nullable || !seen };
}

/** Milliseconds since the epoch (UTC; no zone = UTC) of a date or timestamp, or undefined. */
export function parseTimestamp(s: string): number | undefined {
  const b = encoder.encode(s);
  const micros = parseTimestampBytes(b, 0, b.length);
  return Number.isNaN(micros) ? undefined : Math.floor(micros / 1000);
}
