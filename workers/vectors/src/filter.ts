// Metadata filters of /index/<name>/search, with Vectorize's operators:
// {"genre": "x"} (equality), {"year": {"$gte": 2000, "$lt": 2010}}, {"tag": {"$in": ["a", "b"]}}.
// Keys are ANDed; a dotted key reaches into nested objects. A key the item does not have
// fails $eq/$in/$lt/$lte/$gt/$gte and passes $ne/$nin. Comparisons only between values of
// the same type (number with number, string with string).
import { LakehouseError } from "../../../shared/errors";

export type Scalar = string | number | boolean | null;
export type Op = "$eq" | "$ne" | "$in" | "$nin" | "$lt" | "$lte" | "$gt" | "$gte";
export interface Condition {
  key: string;
  path: string[];
  op: Op;
  value: Scalar | Scalar[];
}
export type Filter = Record<string, unknown>;

const OPS = new Set<string>(["$eq", "$ne", "$in", "$nin", "$lt", "$lte", "$gt", "$gte"]);

function isScalar(v: unknown): v is Scalar {
  return (
    v === null ||
    typeof v === "string" ||
    typeof v === "boolean" ||
    (typeof v === "number" && Number.isFinite(v))
  );
}

function bad(message: string): LakehouseError {
  return new LakehouseError("bad_request", `filter: ${message}`);
}

/** Validates a filter and compiles it to a list of ANDed conditions; a malformed filter is a 400 naming the key. */
export function compileFilter(filter: unknown): Condition[] {
  if (filter === undefined || filter === null) return [];
  if (typeof filter !== "object" || Array.isArray(filter))
    throw bad("expected an object of metadata keys");
  const out: Condition[] = [];
  for (const [key, spec] of Object.entries(filter as Record<string, unknown>)) {
    if (key === "" || key.startsWith("$"))
      throw bad(`invalid key ${JSON.stringify(key)} (operators go inside a key's object)`);
    const path = key.split(".");
    if (isScalar(spec)) {
      out.push({ key, path, op: "$eq", value: spec });
      continue;
    }
    if (typeof spec !== "object" || spec === null || Array.isArray(spec)) {
      throw bad(
        `key ${JSON.stringify(key)}: expected a scalar or an object of operators, got ${Array.isArray(spec) ? "an array" : typeof spec}`,
      );
    }
    const ops = Object.entries(spec as Record<string, unknown>);
    if (ops.length === 0) throw bad(`key ${JSON.stringify(key)}: empty operator object`);
    for (const [op, value] of ops) {
      if (!OPS.has(op))
        throw bad(
          `key ${JSON.stringify(key)}: unknown operator ${JSON.stringify(op)} (known: ${[...OPS].join(" ")})`,
        );
      if (op === "$in" || op === "$nin") {
        if (!Array.isArray(value) || value.length === 0 || !value.every(isScalar)) {
          throw bad(`key ${JSON.stringify(key)}: ${op} needs a non-empty array of scalars`);
        }
      } else if (op === "$eq" || op === "$ne") {
        if (!isScalar(value))
          throw bad(
            `key ${JSON.stringify(key)}: ${op} needs a scalar, got ${JSON.stringify(value)}`,
          );
      } else if (
        !((typeof value === "number" && Number.isFinite(value)) || typeof value === "string")
      ) {
        throw bad(
          `key ${JSON.stringify(key)}: ${op} needs a number or a string, got ${JSON.stringify(value)}`,
        );
      }
      out.push({ key, path, op: op as Op, value: value as Scalar | Scalar[] });
    }
  }
  return out;
}

function lookup(metadata: Record<string, unknown> | undefined, path: string[]): unknown {
  let node: unknown = metadata;
  for (const p of path) {
    if (typeof node !== "object" || node === null || Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[p];
  }
  return node;
}

function compare(a: unknown, b: Scalar): number | undefined {
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "string" && typeof b === "string") return a < b ? -1 : a > b ? 1 : 0;
  return undefined;
}

export function matches(
  conditions: readonly Condition[],
  metadata: Record<string, unknown> | undefined,
): boolean {
  for (const c of conditions) {
    const v = lookup(metadata, c.path);
    switch (c.op) {
      case "$eq":
        if (v === undefined || v !== c.value) return false;
        break;
      case "$ne":
        if (v !== undefined && v === c.value) return false;
        break;
      case "$in":
        if (v === undefined || !(c.value as Scalar[]).includes(v as Scalar)) return false;
        break;
      case "$nin":
        if (v !== undefined && (c.value as Scalar[]).includes(v as Scalar)) return false;
        break;
      default: {
        const cmp = compare(v, c.value as Scalar);
        if (cmp === undefined) return false;
        if (c.op === "$lt" && !(cmp < 0)) return false;
        if (c.op === "$lte" && !(cmp <= 0)) return false;
        if (c.op === "$gt" && !(cmp > 0)) return false;
        if (c.op === "$gte" && !(cmp >= 0)) return false;
      }
    }
  }
  return true;
}
