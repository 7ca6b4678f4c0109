// Dataset identity shared by the catalog and ingest (DESIGN §6 Catalog): names, the
// UUIDv5 dataset id, and the schema fingerprint.
import { z } from "@hono/zod-openapi";
import { v5 as uuidv5 } from "uuid";
import { sha256Hex } from "./hash";
import type { ColumnType, SchemaField } from "./types";

/** The Go version's namespace, kept so dataset ids match across implementations. */
export const DATASET_NAMESPACE = "a8f3c1d2-4e5b-5a6c-9d8e-7f0a1b2c3d4e";

export const COLUMN_TYPES: readonly ColumnType[] = ["int64", "float64", "bool", "date", "timestamp", "string"];

/** A dataset name is also a SQL table name and a storage key segment: letters, digits, "_" and "-". */
export const DATASET_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]{0,127}$/;

const NAME_RULE = 'use 1-128 letters, digits, "_" or "-", starting with a letter or "_"';

/**
 * The zod schema of a dataset name (a body field, a path or a query parameter); it validates
 * the request and documents the pattern. A failure reads `<where>.<field>: missing dataset name`
 * (or the `missing` text given) or `<where>.<field>: invalid dataset name "x": use ...`.
 */
export function datasetNameSchema(missing = "missing dataset name") {
  const missingOr = (iss: { input?: unknown }) => (iss.input === undefined || iss.input === null ? missing : `expected a dataset name (a string), got ${JSON.stringify(iss.input)}`);
  return z
    .string({ error: missingOr })
    .min(1, { error: missing, abort: true })
    .regex(DATASET_NAME_PATTERN, {
      error: (iss) => `invalid dataset name ${JSON.stringify(String(iss.input).slice(0, 200))}: ${NAME_RULE}`,
    })
    .openapi({ description: `dataset name (also its SQL table name): ${NAME_RULE}`, example: "people" });
}

export function datasetId(name: string): string {
  return uuidv5(name, DATASET_NAMESPACE);
}

/** Hex SHA-256 over the (name, type) pairs in column order: name 0x1f type, pairs joined by 0x1e. */
export async function schemaFingerprint(schema: readonly Pick<SchemaField, "name" | "type">[]): Promise<string> {
  return sha256Hex(schema.map((f) => `${f.name}\x1f${f.type}`).join("\x1e"));
}
