// The Catalog Durable Object's SQLite migrations, applied in order, each once, at start.
// 0002: object_refs (which versions list which keys: registration and deletion rules) and
// staging (leases of staged ingest uploads, for the sweep).
import type { Migration } from "../../shared/migrations";
import init from "./0001_init.sql";
import refsStaging from "./0002_refs_staging.sql";

export const MIGRATIONS: Migration[] = [
  { name: "0001_init", sql: init },
  { name: "0002_refs_staging", sql: refsStaging },
];
