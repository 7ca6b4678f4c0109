// Reading the columnar fast path's inputs from the engine's own SQLite copy of a dataset:
// one column into a typed column (int32/double + null bitmap, or text dictionary codes), and
// a derived key's map (a function of a text column evaluated by SQLite once per distinct
// value). Whatever a typed column cannot hold exactly (an integer past 2^53, a number in a
// text column, a blob) returns null, and SQLite answers.
// Kept equal to SQLite by the differential tests that run each query on both engines
// (workers/query/test/query.test.ts "the columnar fast path answers exactly like SQLite",
// workers/query/test/columnar-exact.test.ts) and the fuzz suite over the same path.
import { type CodeArray, type Column, type Derived, isAscii, NotFast } from "./columnar-types";

/**
 * Reads one column of a physical table into a typed column (numbers or dictionary codes); null
 * when SQLite must answer — also as soon as it would take more than `maxBytes` (a text column
 * with many distinct values grows its dictionary while it is read). `numeric`: "integer" for a
 * column SQLite holds as INTEGER (int64, bool: sums are exact int64 sums), "real" for a REAL
 * column (float64: sums are Kahan sums, even of whole numbers), true to tell from the values,
 * false for text.
 */
export function readColumn(
  sql: SqlStorage,
  physical: string,
  name: string,
  numeric: boolean | "integer" | "real",
  rows: number,
  maxBytes = Infinity,
): Column | null {
  if (rows * 4 > maxBytes) return null;
  const cursor = sql.exec(
    `SELECT "${name.replaceAll('"', '""')}" FROM "${physical.replaceAll('"', '""')}"`,
  );
  if (numeric) {
    // int32 while every value fits (half the memory of doubles), doubles from the first that does not
    let ints: Int32Array | null = new Int32Array(rows);
    let doubles: Float64Array | null = null;
    let nulls: Uint8Array | null = null;
    let integer = numeric !== "real";
    let absMax = 0;
    let r = 0;
    for (const [v] of cursor.raw()) {
      if (r >= rows) return null;
      if (typeof v === "number") {
        if (numeric !== "real") {
          if (!Number.isInteger(v)) {
            if (numeric === "integer") return null; // a REAL in an INTEGER column: SQLite's mixed sums are SQLite's
            integer = false;
          }
          // an integer past 2^53 reads back as the nearest double: two such values may be one here, not in SQLite
          else if (Math.abs(v) > Number.MAX_SAFE_INTEGER) return null;
        }
        const a = Math.abs(v);
        if (a > absMax) absMax = a;
        if (ints) {
          if (v === (v | 0) && !Object.is(v, -0)) ints[r] = v;
          else {
            if (rows * 8 > maxBytes) return null;
            doubles = Float64Array.from(ints);
            ints = null;
            doubles[r] = v;
          }
        } else doubles![r] = v;
      } else if (v === null) {
        nulls ??= new Uint8Array(rows);
        nulls[r] = 1;
      } else return null; // text in a numeric column (an int64 beyond 2^53): SQLite answers
      r++;
    }
    if (r !== rows) return null;
    if (ints)
      return {
        kind: "num",
        values: ints,
        nulls,
        integer,
        absMax,
        bytes: rows * 4 + (nulls ? rows : 0),
      };
    return {
      kind: "num",
      values: doubles!,
      nulls,
      integer,
      absMax,
      bytes: rows * 8 + (nulls ? rows : 0),
    };
  }
  let codes: CodeArray = new Uint8Array(rows);
  const dict: (string | null)[] = [null];
  const index = new Map<string, number>();
  let ascii = true;
  let r = 0;
  let dictBytes = 0;
  for (const [v] of cursor.raw()) {
    if (r >= rows) return null;
    if (v === null) codes[r] = 0;
    else if (typeof v === "string") {
      let c = index.get(v);
      if (c === undefined) {
        c = dict.length;
        dict.push(v);
        index.set(v, c);
        dictBytes += 2 * v.length + 48;
        if (rows * codes.BYTES_PER_ELEMENT + dictBytes > maxBytes) return null;
        if (ascii && !isAscii(v)) ascii = false;
        // widen the codes when the dictionary outgrows them
        if (c === 256 && codes instanceof Uint8Array) codes = Uint16Array.from(codes);
        else if (c === 65_536 && codes instanceof Uint16Array) codes = Uint32Array.from(codes);
        if (rows * codes.BYTES_PER_ELEMENT + dictBytes > maxBytes) return null;
      }
      codes[r] = c;
    } else return null; // a number in a text column: SQLite answers
    r++;
  }
  if (r !== rows) return null;
  return { kind: "str", codes, dict, ascii, bytes: rows * codes.BYTES_PER_ELEMENT + dictBytes };
}

/**
 * Evaluates a derived key (`fx`: SQL over `value`) once per dictionary entry with the
 * engine's SQLite (so its semantics are SQLite's own), deduplicating the results.
 */
export function deriveDictionary(sql: SqlStorage, fx: string, dict: (string | null)[]): Derived {
  const remap = new Int32Array(dict.length);
  const values: unknown[] = [];
  const index = new Map<string, number>();
  let bytes = dict.length * 4;
  let integer = true;
  const codeOf = (v: unknown): number => {
    const k =
      v === null ? "n" : typeof v === "number" ? `#${v}` : typeof v === "string" ? `s${v}` : null;
    if (k === null) throw new NotFast(); // a blob: SQLite answers
    let c = index.get(k);
    if (c === undefined) {
      c = values.length;
      values.push(v);
      index.set(k, c);
      bytes += typeof v === "string" ? 2 * v.length + 48 : 16;
    }
    return c;
  };
  // bound JSON texts stay under Durable Object SQLite's 2 MB string limit
  let start = 0;
  while (start < dict.length) {
    let end = start;
    let chars = 2;
    while (end < dict.length && (end === start || chars < 1_000_000)) {
      chars += (dict[end]?.length ?? 4) + 8;
      end++;
    }
    const chunk = JSON.stringify(dict.slice(start, end));
    const cursor = sql.exec(
      `SELECT key, v, typeof(v) FROM (SELECT key, ${fx} AS v FROM json_each(?))`,
      chunk,
    );
    for (const [k, v, type] of cursor.raw()) {
      if (type === "real") integer = false;
      remap[start + (k as number)] = codeOf(v);
    }
    start = end;
  }
  return { remap, values, integer, bytes };
}
