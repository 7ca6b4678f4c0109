// The columnar fast path's shared vocabulary: the plan (what the parser produces), typed
// columns (numbers with a null bitmap; text as dictionary codes), the scan's view of a key,
// and SQLite's value order (NULL < numbers < text; text by code units, ASCII only here).
// Two exceptions end the fast path without an answer: NotFast (the shape is not ours) and
// Bail (the data is not): either way SQLite answers.
// Kept equal to SQLite by the differential tests that run each query on both engines
// (workers/query/test/query.test.ts "the columnar fast path answers exactly like SQLite",
// workers/query/test/columnar-exact.test.ts) and the fuzz suite over the same path.

export type Op = "=" | "<>" | "<" | "<=" | ">" | ">=";
export type AggFn = "count" | "sum" | "avg" | "min" | "max";

/** A column of one of the query's tables (side 0: the FROM table, 1: the joined one). */
export interface ColRef {
  side: number;
  col: string;
}

/** A grouping / output / aggregated value: a column, or a function of one text column. */
export interface KeyExpr {
  ref: ColRef;
  /** SQL over `value` (the column's value), evaluated per dictionary entry; null for the plain column */
  fx: string | null;
  /** identity for matching GROUP BY against select items */
  id: string;
}

export interface Agg {
  fn: AggFn;
  arg: KeyExpr | null; // null: count(*)
  distinct: boolean;
  id: string;
}

export interface Item {
  name: string;
  key?: KeyExpr;
  agg?: Agg;
}

export type Cond =
  | { ref: ColRef; op: Op; value: number | string }
  | { ref: ColRef; isNull: boolean };

export interface Having {
  agg: Agg;
  op: Op;
  value: number;
}

export interface OrderKey {
  /** an output column, or (top-N only) a key that is not selected */
  out?: number;
  key?: KeyExpr;
  desc: boolean;
  nullsFirst: boolean;
}

export interface FastPlan {
  /** the tables as written (resolved by the engine), side 0 then side 1 */
  tables: string[];
  join: { left: ColRef; right: ColRef } | null;
  items: Item[];
  where: Cond[];
  groupBy: KeyExpr[];
  having: Having[];
  aggs: Agg[];
  orderBy: OrderKey[];
  limit: number;
  offset: number;
  /** aggregate (with or without GROUP BY) or top-N rows */
  mode: "aggregate" | "rows";
}

export type CodeArray = Uint8Array | Uint16Array | Uint32Array;

export type Column =
  /** `integer`: every value is an INTEGER in SQLite (an int64 or bool column); `absMax`: the largest |value| */
  | {
      kind: "num";
      values: Float64Array | Int32Array;
      nulls: Uint8Array | null;
      integer: boolean;
      absMax: number;
      bytes: number;
    }
  | { kind: "str"; codes: CodeArray; dict: (string | null)[]; ascii: boolean; bytes: number };

/** A function of a text column, per dictionary entry: old code → new code, and the new codes' values (code 0 may be any value). */
export interface Derived {
  remap: Int32Array;
  values: unknown[];
  /** every number among `values` is an INTEGER (SQLite's typeof): sums of them are int64 sums */
  integer: boolean;
  bytes: number;
}

/** The columns of one table side, by declared name. */
export interface Side {
  rows: number;
  cols: Map<string, Column>;
}

export const BLOCK = 65_536;
/** more groups than this (memory per group) and SQLite answers */
export const MAX_GROUPS = 200_000;
/** a join producing more row pairs than this is SQLite's (its time is bounded there by steps and timeouts) */
export const MAX_JOIN_PAIRS = 20_000_000;
/**
 * What a join's hash table takes per build-side row, at most: a Map entry and a one-element
 * row list (V8: ~40 + ~32 bytes) — counted against [queryd].columnar_cache_mb with the columns.
 */
export const HASH_BYTES_PER_ROW = 72;

export class NotFast extends Error {}
/** An exact integer sum gives way to SQLite this close to int64's end (SQLite's own overflow rules apply there). */
export const INT64_NEAR_MAX = 2n ** 63n - 2n ** 54n;

export function isAscii(s: string): boolean {
  for (let k = 0; k < s.length; k++) if (s.charCodeAt(k) > 0x7f) return false;
  return true;
}

/** A key as the scan reads it: numbers per row, or a code per row (through a remap) into values. */
export type ScanKey =
  | {
      kind: "num";
      side: number;
      values: Float64Array | Int32Array;
      nulls: Uint8Array | null;
      integer: boolean;
      absMax: number;
    }
  /** `integer`: every number among `values` is an INTEGER in SQLite (false when unknown) */
  | {
      kind: "dict";
      side: number;
      codes: CodeArray;
      remap: Int32Array | null;
      values: unknown[];
      integer: boolean;
    };

export function cmpNum(a: number, op: Op, b: number): boolean {
  switch (op) {
    case "=":
      return a === b;
    case "<>":
      return a !== b;
    case "<":
      return a < b;
    case "<=":
      return a <= b;
    case ">":
      return a > b;
    case ">=":
      return a >= b;
  }
}

/**
 * `v op n` for a value without affinity (an aggregate's result) against a numeric literal, as
 * SQLite compares them: NULL compares to nothing (false), a number numerically, and any TEXT is
 * greater than any number (no conversion: neither side has an affinity).
 */
export function compareToNumber(v: unknown, op: Op, n: number): boolean {
  if (v === null || v === undefined) return false;
  if (typeof v === "number") return cmpNum(v, op, n);
  if (typeof v === "string") return op === ">" || op === ">=" || op === "<>";
  throw new Bail(); // a blob: SQLite's rules, SQLite's answer
}

export function cmpStr(a: string, op: Op, b: string): boolean {
  switch (op) {
    case "=":
      return a === b;
    case "<>":
      return a !== b;
    case "<":
      return a < b;
    case "<=":
      return a <= b;
    case ">":
      return a > b;
    case ">=":
      return a >= b;
  }
}

/** SQLite's order: NULL < numbers < text; text by (ASCII) code units. */
export function compareValues(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  if (typeof a === "number" && typeof b === "number") return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === "number") return -1;
  if (typeof b === "number") return 1;
  return (a as string) < (b as string) ? -1 : 1;
}

export class Bail extends Error {}

export function asciiOrBail(v: unknown): void {
  if (typeof v === "string" && !isAscii(v)) throw new Bail();
}

/** ORDER BY one key: SQLite's order, reversed for DESC, NULLs where NULLS FIRST / LAST puts them. */
export function orderCompare(a: unknown, b: unknown, key: OrderKey): number {
  if (a === null || b === null) {
    if (a === b) return 0;
    return (a === null) === key.nullsFirst ? -1 : 1;
  }
  const c = compareValues(a, b);
  return key.desc ? -c : c;
}
