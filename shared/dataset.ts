// Dataset identity shared by the catalog and ingest (DESIGN §6 Catalog): names, the
// UUIDv5 dataset id, and the schema fingerprint. Also the rules a name must keep for the SQL
// engine to load and name it (issue #21: refuse at ingest what cannot be queried): no dataset
// name with a prefix the engine reserves, no column names equal but for case, no NUL, at most
// MAX_COLUMN_NAME_BYTES.
import { z } from "@hono/zod-openapi";
import { v5 as uuidv5 } from "uuid";
import { sha256Hex } from "./hash";
import type { ColumnType, SchemaField } from "./types";

/** The Go version's namespace, kept so dataset ids match across implementations. */
export const DATASET_NAMESPACE = "a8f3c1d2-4e5b-5a6c-9d8e-7f0a1b2c3d4e";

export const COLUMN_TYPES: readonly ColumnType[] = [
  "int64",
  "float64",
  "bool",
  "date",
  "timestamp",
  "string",
];

/** A dataset name is also a SQL table name and a storage key segment: letters, digits, "_" and "-". */
export const DATASET_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]{0,127}$/;

const NAME_RULE = 'use 1-128 letters, digits, "_" or "-", starting with a letter or "_"';

/**
 * The zod schema of a dataset name (a body field, a path or a query parameter); it validates
 * the request and documents the pattern. A failure reads `<where>.<field>: missing dataset name`
 * (or the `missing` text given) or `<where>.<field>: invalid dataset name "x": use ...`.
 */
export function datasetNameSchema(
  missing = "missing dataset name",
  options: { creating?: boolean } = {},
) {
  const missingOr = (iss: { input?: unknown }) =>
    iss.input === undefined || iss.input === null
      ? missing
      : `expected a dataset name (a string), got ${JSON.stringify(iss.input)}`;
  return z
    .string({ error: missingOr })
    .min(1, { error: missing, abort: true })
    .regex(DATASET_NAME_PATTERN, {
      error: (iss) =>
        `invalid dataset name ${JSON.stringify(String(iss.input).slice(0, 200))}: ${NAME_RULE}`,
    })
    .refine((name) => !options.creating || reservedPrefix(name) === undefined, {
      error: (iss) => reservedNameMessage(String(iss.input)),
      abort: true,
    })
    .openapi({
      description: `dataset name (also its SQL table name): ${NAME_RULE}${options.creating ? `; not starting with ${RESERVED_NAME_PREFIXES.join(", ")} (any case)` : ""}`,
      example: "people",
    });
}

/**
 * Name prefixes the SQL engine keeps for its own tables and table functions (workers/query
 * guard.ts refuses any identifier that starts with one, in any case): a dataset or a column
 * named so could never be named in a query.
 */
export const RESERVED_NAME_PREFIXES = ["_lh_", "sqlite_", "_cf_", "pragma_"] as const;

/** The reserved prefix `name` starts with (compared case-insensitively), or undefined. */
export function reservedPrefix(name: string): string | undefined {
  const lower = name.toLowerCase();
  return RESERVED_NAME_PREFIXES.find((p) => lower.startsWith(p));
}

function reservedNameMessage(name: string): string {
  return `dataset name ${JSON.stringify(name.slice(0, 200))} starts with ${JSON.stringify(reservedPrefix(name))}, a prefix the SQL engine reserves for its own tables (reserved, in any case: ${RESERVED_NAME_PREFIXES.join(", ")}); choose another name`;
}

/**
 * The longest column name, in UTF-8 bytes. SQLite itself takes longer names, but every
 * statement the engine runs lists the columns (a Durable Object's SQL statement is at most
 * 100 KB), and 256 bytes is beyond any real header.
 */
export const MAX_COLUMN_NAME_BYTES = 256;

const nameEncoder = new TextEncoder();

/** A column name as a message shows it: JSON, at most 40 characters of it. */
function showName(name: string): string {
  return name.length > 40
    ? `${JSON.stringify(name.slice(0, 40)).slice(0, -1)}…"`
    : JSON.stringify(name);
}

/**
 * Why the engine could not load or name a column called `name` (`name "x" contains a NUL
 * character`), or undefined when it can. Empty names and duplicates are the caller's check.
 */
export function columnNameProblem(name: string): string | undefined {
  const nul = name.indexOf("\u0000");
  if (nul >= 0) return `name ${showName(name)} contains a NUL character at offset ${nul}`;
  const bytes = nameEncoder.encode(name).byteLength;
  if (bytes > MAX_COLUMN_NAME_BYTES)
    return `name ${showName(name)} is ${bytes} bytes; the limit is ${MAX_COLUMN_NAME_BYTES}`;
  const prefix = reservedPrefix(name);
  if (prefix)
    return `name ${showName(name)} starts with ${JSON.stringify(prefix)}, a prefix the SQL engine reserves (queries may not name it)`;
  return undefined;
}

/**
 * The first two names in `names` that are equal but for case (SQLite column names are
 * case-insensitive), as indexes, or undefined. Exact duplicates count too.
 */
export function caseCollision(names: readonly string[]): [number, number] | undefined {
  const firstAt = new Map<string, number>();
  for (let i = 0; i < names.length; i++) {
    const folded = names[i]!.toLowerCase();
    const prev = firstAt.get(folded);
    if (prev !== undefined) return [prev, i];
    firstAt.set(folded, i);
  }
  return undefined;
}

/** The message for caseCollision's pair (column numbers from 1). */
export function caseCollisionMessage(names: readonly string[], [a, b]: [number, number]): string {
  return `column names ${showName(names[a]!)} (column ${a + 1}) and ${showName(names[b]!)} (column ${b + 1}) differ only in case; SQLite column names are case-insensitive, so the SQL engine could not load both`;
}

export function datasetId(name: string): string {
  return uuidv5(name, DATASET_NAMESPACE);
}

/** Hex SHA-256 over the (name, type) pairs in column order: name 0x1f type, pairs joined by 0x1e. */
export async function schemaFingerprint(
  schema: readonly Pick<SchemaField, "name" | "type">[],
): Promise<string> {
  return sha256Hex(schema.map((f) => `${f.name}\x1f${f.type}`).join("\x1e"));
}
