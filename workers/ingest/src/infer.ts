// Column types from CSV text (DESIGN §6 Ingest): int64, float64, bool, timestamp
// (ISO-8601), else string. An empty cell is null. A column is the narrowest type every
// non-empty sampled value fits; anything ambiguous (ints with leading zeros, numbers
// mixed with words, a mix of bools and numbers, ...) is string.
import type { ColumnType } from "../../../shared/types";

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

/** Integer text without a leading zero ("0" alone is fine), optional sign; fits int64. */
export function parseInt64(s: string): bigint | undefined {
  const n = s.length;
  if (n === 0 || n > 20) return undefined;
  let i = 0;
  const c0 = s.charCodeAt(0);
  if (c0 === 45 || c0 === 43) {
    if (n === 1) return undefined;
    i = 1;
  }
  if (s.charCodeAt(i) === 48 && n > i + 1) return undefined; // leading zero: an identifier, not a number
  for (let k = i; k < n; k++) {
    const c = s.charCodeAt(k);
    if (c < 48 || c > 57) return undefined;
  }
  if (n - i < 16) {
    // Up to 15 digits is exact as a number; BigInt(number) is much cheaper than BigInt(string).
    let v = 0;
    for (let k = i; k < n; k++) v = v * 10 + (s.charCodeAt(k) - 48);
    return BigInt(c0 === 45 ? -v : v);
  }
  const v = BigInt(c0 === 43 ? s.slice(1) : s);
  return v > INT64_MAX || v < INT64_MIN ? undefined : v;
}

const FLOAT_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Decimal or scientific notation; no hex, no Infinity/NaN words, no surrounding space. */
export function parseFloat64(s: string): number | undefined {
  if (!FLOAT_RE.test(s)) return undefined;
  // A leading-zero integer part ("007.5") is an identifier-like string, not a number.
  const c0 = s.charCodeAt(0) === 45 || s.charCodeAt(0) === 43 ? 1 : 0;
  if (s.charCodeAt(c0) === 48 && s.length > c0 + 1 && s.charCodeAt(c0 + 1) >= 48 && s.charCodeAt(c0 + 1) <= 57) return undefined;
  const v = Number(s);
  return Number.isFinite(v) ? v : undefined;
}

export function parseBool(s: string): boolean | undefined {
  switch (s) {
    case "true":
    case "TRUE":
    case "True":
      return true;
    case "false":
    case "FALSE":
    case "False":
      return false;
    default:
      return undefined;
  }
}

// 2024-01-31, 2024-01-31T10:20, 2024-01-31 10:20:30, …:30.123, with Z or ±hh[:]mm.
// More than millisecond precision is not a timestamp here (it would lose digits).
const TS_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/;

/** Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Howard Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let k = at; k < at + n; k++) {
    const c = s.charCodeAt(k) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** Fast path for the common `YYYY-MM-DD` and `YYYY-MM-DD[T ]HH:MM:SS` forms (no zone, no fraction). */
function parseTimestampFast(s: string): number | undefined {
  const n = s.length;
  if ((n !== 10 && n !== 19) || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return undefined;
  const y = digits(s, 0, 4);
  const mo = digits(s, 5, 2);
  const d = digits(s, 8, 2);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > DAYS_IN_MONTH[mo - 1]!) return undefined;
  if (mo === 2 && d === 29 && !(y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0))) return undefined;
  let ms = daysFromCivil(y, mo, d) * 86_400_000;
  if (n === 19) {
    const sep = s.charCodeAt(10);
    if ((sep !== 84 && sep !== 32) || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return undefined;
    const h = digits(s, 11, 2);
    const mi = digits(s, 14, 2);
    const sec = digits(s, 17, 2);
    if (h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59) return undefined;
    ms += ((h * 60 + mi) * 60 + sec) * 1000;
  }
  return ms;
}

/** Milliseconds since the epoch (UTC; no zone = UTC). */
export function parseTimestamp(s: string): number | undefined {
  const fast = parseTimestampFast(s);
  if (fast !== undefined) return fast;
  if (s.length < 10 || s.length > 35) return undefined;
  const m = TS_RE.exec(s);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, sec, frac, zone] = m;
  const month = Number(mo);
  const day = Number(d);
  const hour = h === undefined ? 0 : Number(h);
  const minute = mi === undefined ? 0 : Number(mi);
  const second = sec === undefined ? 0 : Number(sec);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) return undefined;
  const ms = frac === undefined ? 0 : Number(frac.padEnd(3, "0"));
  let t = Date.UTC(Number(y), month - 1, day, hour, minute, second, ms);
  // Date.UTC rolls 2024-02-31 over into March: reject dates that do not exist.
  const check = new Date(t);
  if (check.getUTCDate() !== day || check.getUTCMonth() !== month - 1) return undefined;
  if (zone && zone !== "Z") {
    const sign = zone[0] === "-" ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    const offset = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || "0");
    t -= sign * offset * 60_000;
  }
  return t;
}

const ALL = 0b1111;
const INT = 1;
const FLOAT = 2;
const BOOL = 4;
const TS = 8;

/** Narrowest type every non-empty value of `values[from..to)` fits, and whether any was empty. */
export function inferColumn(values: readonly string[]): { type: ColumnType; nullable: boolean } {
  let possible = ALL;
  let nullable = false;
  let seen = false;
  for (const v of values) {
    if (v === "") {
      nullable = true;
      continue;
    }
    seen = true;
    if (possible & INT && parseInt64(v) === undefined) possible &= ~INT;
    if (possible & FLOAT && parseFloat64(v) === undefined) possible &= ~FLOAT;
    if (possible & BOOL && parseBool(v) === undefined) possible &= ~BOOL;
    if (possible & TS && parseTimestamp(v) === undefined) possible &= ~TS;
    if (possible === 0) break;
  }
  if (!seen) return { type: "string", nullable: true };
  const type: ColumnType = possible & INT ? "int64" : possible & FLOAT ? "float64" : possible & BOOL ? "bool" : possible & TS ? "timestamp" : "string";
  if (!nullable && type === "string") nullable = values.includes("");
  return { type, nullable };
}

/** The type a column must widen to when `value` does not fit `type` (int64 → float64 for a number, else string). */
export function widen(type: ColumnType, value: string): ColumnType {
  if (type === "int64" && parseFloat64(value) !== undefined) return "float64";
  return "string";
}

export class TypeMismatch extends Error {
  constructor(
    readonly column: number,
    readonly to: ColumnType,
  ) {
    super(`column ${column} widens to ${to}`);
  }
}

/**
 * Converts one column's raw text to the values the Parquet writer takes; empty → null.
 * Throws TypeMismatch naming the wider type when a value does not fit.
 */
export function convertColumn(raw: string[], type: ColumnType, column: number): { values: unknown[]; nulls: number } {
  const n = raw.length;
  const out = new Array<unknown>(n);
  let nulls = 0;
  switch (type) {
    case "string":
      for (let i = 0; i < n; i++) {
        const v = raw[i]!;
        if (v === "") {
          out[i] = null;
          nulls++;
        } else out[i] = v;
      }
      break;
    case "int64":
      for (let i = 0; i < n; i++) {
        const v = raw[i]!;
        if (v === "") {
          out[i] = null;
          nulls++;
          continue;
        }
        const x = parseInt64(v);
        if (x === undefined) throw new TypeMismatch(column, widen(type, v));
        out[i] = x;
      }
      break;
    case "float64":
      for (let i = 0; i < n; i++) {
        const v = raw[i]!;
        if (v === "") {
          out[i] = null;
          nulls++;
          continue;
        }
        const x = parseFloat64(v);
        if (x === undefined) throw new TypeMismatch(column, "string");
        out[i] = x;
      }
      break;
    case "bool":
      for (let i = 0; i < n; i++) {
        const v = raw[i]!;
        if (v === "") {
          out[i] = null;
          nulls++;
          continue;
        }
        const x = parseBool(v);
        if (x === undefined) throw new TypeMismatch(column, "string");
        out[i] = x;
      }
      break;
    case "timestamp": {
      // Sorted and bucketed data repeats timestamps: reuse the last parse.
      let last = "";
      let lastValue = 0;
      for (let i = 0; i < n; i++) {
        const v = raw[i]!;
        if (v === "") {
          out[i] = null;
          nulls++;
          continue;
        }
        if (v === last) {
          out[i] = lastValue;
          continue;
        }
        const x = parseTimestamp(v);
        if (x === undefined) throw new TypeMismatch(column, "string");
        out[i] = x;
        last = v;
        lastValue = x;
      }
      break;
    }
  }
  return { values: out, nulls };
}
