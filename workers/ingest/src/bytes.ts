// Values parsed straight from CSV bytes (no intermediate string): the type tests used by
// inference and the converters that fill typed column buffers. Rules (docs/storage-layout.md,
// "Type inference"), chosen to match DuckDB's CSV sniffer on the common cases:
//   int64     -?digits, no leading zero (zip codes stay strings), no '+', within int64
//   float64   -?digits[.digits][e±digits] or -?.digits, no leading zero before more digits
//   bool      true/false, t/f, yes/no in any case (not 1/0, which are integers, nor y/n)
//   date      YYYY-MM-DD (a real calendar day)
//   timestamp YYYY-MM-DD[T ]HH:MM[:SS[.fraction up to 9 digits]][Z | ±HH[[:]MM]]; no zone = UTC;
//             stored as microseconds (fractions past µs are cut), within int64 (years 1677–2262)
// A column of dates and timestamps together is timestamp (a date is its midnight UTC).
import type { ColumnType } from "../../../shared/types";

/** Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Howard Hinnant's days_from_civil). */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const MAX_SAFE = 9007199254740991;
const POW10 = [
  1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17,
  1e18, 1e19, 1e20, 1e21, 1e22,
];

function dig(b: Uint8Array, at: number, n: number): number {
  let v = 0;
  for (let k = at; k < at + n; k++) {
    const c = b[k]! - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** Sentinel returned by the parsers when the bytes are not a value of the type. */
export const NOT = Number.NaN;

/**
 * An int64: its value as a number when |v| ≤ 2^53 − 1, `BIG` when it is a valid int64 beyond
 * that (read it with parseBigInt), NaN otherwise.
 */
export const BIG = Number.POSITIVE_INFINITY;
export function parseIntBytes(b: Uint8Array, s: number, e: number): number {
  let i = s;
  let neg = false;
  if (b[i] === 45) {
    neg = true;
    i++;
  }
  const n = e - i;
  if (n <= 0 || n > 19) return NOT;
  if (b[i] === 48 && n > 1) return NOT;
  let v = 0;
  for (let k = i; k < e; k++) {
    const c = b[k]! - 48;
    if (c < 0 || c > 9) return NOT;
    v = v * 10 + c;
  }
  if (n < 16) return neg ? -v : v;
  const big = parseBigInt(b, s, e);
  if (big > 9223372036854775807n || big < -9223372036854775808n) return NOT;
  const num = Number(big);
  return num <= MAX_SAFE && num >= -MAX_SAFE ? num : BIG;
}

export function parseBigInt(b: Uint8Array, s: number, e: number): bigint {
  return BigInt(latin1(b, s, e));
}

export function latin1(b: Uint8Array, s: number, e: number): string {
  let out = "";
  for (let k = s; k < e; k += 4096)
    out += String.fromCharCode.apply(
      null,
      b.subarray(k, Math.min(e, k + 4096)) as unknown as number[],
    );
  return out;
}

/** A float64 (decimal or scientific; no hex, no words), NaN when the bytes are not one. */
export function parseFloatBytes(b: Uint8Array, s: number, e: number): number {
  let i = s;
  let neg = false;
  if (b[i] === 45) {
    neg = true;
    i++;
  }
  if (i >= e) return NOT;
  let mant = 0;
  let sig = 0; // significant digits in mant
  let intDigits = 0;
  let fracDigits = 0;
  let exp10 = 0;
  let dropped = false;
  const i0 = i;
  while (i < e) {
    const c = b[i]! - 48;
    if (c < 0 || c > 9) break;
    if (sig < 15) {
      mant = mant * 10 + c;
      if (mant > 0) sig++;
    } else {
      exp10++;
      if (c !== 0) dropped = true;
    }
    intDigits++;
    i++;
  }
  if (intDigits > 1 && b[i0] === 48) return NOT; // a leading zero before more digits: an identifier
  if (i < e && b[i] === 46) {
    i++;
    while (i < e) {
      const c = b[i]! - 48;
      if (c < 0 || c > 9) break;
      if (sig < 15) {
        mant = mant * 10 + c;
        if (mant > 0) sig++;
        exp10--;
      } else if (c !== 0) dropped = true;
      fracDigits++;
      i++;
    }
  }
  if (intDigits + fracDigits === 0) return NOT;
  if (i < e && (b[i] === 101 || b[i] === 69)) {
    i++;
    let eneg = false;
    if (b[i] === 45 || b[i] === 43) {
      eneg = b[i] === 45;
      i++;
    }
    const es = i;
    let ev = 0;
    while (i < e) {
      const c = b[i]! - 48;
      if (c < 0 || c > 9) return NOT;
      if (ev < 100000) ev = ev * 10 + c;
      i++;
    }
    if (i === es) return NOT;
    exp10 += eneg ? -ev : ev;
  }
  if (i !== e) return NOT;
  let v: number;
  if (!dropped && exp10 >= -22 && exp10 <= 22)
    v = exp10 < 0 ? mant / POW10[-exp10]! : mant * POW10[exp10]!;
  else v = Number(latin1(b, neg ? s + 1 : s, e)); // correctly rounded fallback
  if (!Number.isFinite(v)) return NOT;
  return neg ? -v : v;
}

/** 1 (true), 0 (false) or -1: true/false, t/f, yes/no in any case. */
export function parseBoolBytes(b: Uint8Array, s: number, e: number): number {
  const n = e - s;
  const c = b[s]! | 0x20;
  switch (n) {
    case 1:
      return c === 116 ? 1 : c === 102 ? 0 : -1; // t f
    case 2:
      return c === 110 && (b[s + 1]! | 0x20) === 111 ? 0 : -1; // no
    case 3:
      return c === 121 && (b[s + 1]! | 0x20) === 101 && (b[s + 2]! | 0x20) === 115 ? 1 : -1; // yes
    case 4:
      return c === 116 &&
        (b[s + 1]! | 0x20) === 114 &&
        (b[s + 2]! | 0x20) === 117 &&
        (b[s + 3]! | 0x20) === 101
        ? 1
        : -1;
    case 5:
      return c === 102 &&
        (b[s + 1]! | 0x20) === 97 &&
        (b[s + 2]! | 0x20) === 108 &&
        (b[s + 3]! | 0x20) === 115 &&
        (b[s + 4]! | 0x20) === 101
        ? 0
        : -1;
    default:
      return -1;
  }
}

/** Days since 1970-01-01 of `YYYY-MM-DD` at s (10 bytes), NaN otherwise. */
function dateAt(b: Uint8Array, s: number): number {
  if (b[s + 4] !== 45 || b[s + 7] !== 45) return NOT;
  const y = dig(b, s, 4);
  const mo = dig(b, s + 5, 2);
  const d = dig(b, s + 8, 2);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > DAYS_IN_MONTH[mo - 1]!) return NOT;
  if (mo === 2 && d === 29 && !(y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0))) return NOT;
  return daysFromCivil(y, mo, d);
}

export function parseDateBytes(b: Uint8Array, s: number, e: number): number {
  return e - s === 10 ? dateAt(b, s) : NOT;
}

const MIN_MICROS = -MAX_SAFE;
const MAX_MICROS = MAX_SAFE;

/** Microseconds since the epoch (UTC) of a date or timestamp, NaN otherwise. */
export function parseTimestampBytes(b: Uint8Array, s: number, e: number): number {
  const n = e - s;
  if (n < 10 || n > 40) return NOT;
  const days = dateAt(b, s);
  if (Number.isNaN(days)) return NOT;
  let micros = days * 86_400_000_000;
  if (n === 10) return micros;
  const sep = b[s + 10];
  if ((sep !== 84 && sep !== 32) || n < 16 || b[s + 13] !== 58) return NOT;
  const h = dig(b, s + 11, 2);
  const mi = dig(b, s + 14, 2);
  if (h < 0 || h > 23 || mi < 0 || mi > 59) return NOT;
  let i = s + 16;
  let sec = 0;
  let frac = 0;
  if (i < e && b[i] === 58) {
    sec = dig(b, i + 1, 2);
    if (sec < 0 || sec > 59 || i + 3 > e) return NOT;
    i += 3;
    if (i < e && b[i] === 46) {
      i++;
      const fs = i;
      let scale = 100_000;
      while (i < e && b[i]! >= 48 && b[i]! <= 57) {
        if (i - fs < 6) frac += (b[i]! - 48) * scale;
        scale /= 10;
        i++;
      }
      if (i === fs || i - fs > 9) return NOT;
    }
  }
  let zone = 0;
  if (i < e) {
    const z = b[i];
    if (z === 90 && i + 1 === e) i++;
    else if (z === 43 || z === 45) {
      const zh = dig(b, i + 1, 2);
      if (zh < 0 || zh > 23) return NOT;
      let zm = 0;
      i += 3;
      if (i < e) {
        if (b[i] === 58) i++;
        zm = e - i === 2 ? dig(b, i, 2) : -1;
        if (zm < 0 || zm > 59) return NOT;
        i += 2;
      }
      zone = (z === 45 ? -1 : 1) * (zh * 60 + zm) * 60_000_000;
    } else return NOT;
  }
  if (i !== e) return NOT;
  const intraday = ((h * 60 + mi) * 60 + sec) * 1_000_000 + frac - zone;
  micros += intraday;
  if (micros >= MIN_MICROS && micros <= MAX_MICROS) return micros;
  // Beyond 2^53 µs (before 1685 or after 2255): exact as a bigint, within int64.
  const big = BigInt(days) * 86_400_000_000n + BigInt(intraday);
  if (big > 9223372036854775807n || big < -9223372036854775808n) return NOT;
  bigMicros = big;
  return BIG;
}

/** The value of the last timestamp parseTimestampBytes answered `BIG` for. */
export let bigMicros = 0n;

/** Whether bytes [s, e) are valid UTF-8 (fast path for ASCII). */
export function validUtf8(b: Uint8Array, s: number, e: number): boolean {
  let i = s;
  while (i < e && b[i]! < 0x80) i++;
  if (i === e) return true;
  try {
    FATAL.decode(b.subarray(s, e));
    return true;
  } catch {
    return false;
  }
}
const FATAL = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

// Inference bits: a column is the first type (in this order) every non-null sampled value fits.
export const F_INT = 1;
export const F_FLOAT = 2;
export const F_BOOL = 4;
export const F_DATE = 8;
export const F_TS = 16;
export const F_ALL = 31;

export function typeOfBits(bits: number, seen: boolean): ColumnType {
  if (!seen) return "string";
  return bits & F_INT
    ? "int64"
    : bits & F_FLOAT
      ? "float64"
      : bits & F_BOOL
        ? "bool"
        : bits & F_DATE
          ? "date"
          : bits & F_TS
            ? "timestamp"
            : "string";
}

/** The bits of the types bytes [s, e) fit, among `bits`. */
export function fits(b: Uint8Array, s: number, e: number, bits: number): number {
  if (bits & F_INT && Number.isNaN(parseIntBytes(b, s, e))) bits &= ~F_INT;
  if (bits & F_FLOAT && Number.isNaN(parseFloatBytes(b, s, e))) bits &= ~F_FLOAT;
  if (bits & F_BOOL && parseBoolBytes(b, s, e) < 0) bits &= ~F_BOOL;
  if (bits & F_DATE && Number.isNaN(parseDateBytes(b, s, e))) bits &= ~F_DATE;
  if (bits & F_TS && Number.isNaN(parseTimestampBytes(b, s, e))) bits &= ~F_TS;
  return bits;
}
