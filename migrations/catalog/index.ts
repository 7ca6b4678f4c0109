// The Catalog Durable Object's SQLite migrations, applied in order, each once, at start.
// 0002: object_refs (which versions list which keys: registration and deletion rules) and
// staging (leases of staged ingest uploads, for the sweep).
// 0003: storage linear in files (`files` with each object's span of versions replaces
// object_refs and the per-version object lists), Iceberg snapshots and manifests.
import type { Migration } from "../../shared/migrations";
import init from "./0001_init.sql";
import refsStaging from "./0002_refs_staging.sql";
import linearIceberg from "./0003_linear_iceberg.sql";

export const MIGRATIONS: Migration[] = [
  { name: "0001_init", sql: init },
  { name: "0002_refs_staging", sql: refsStaging },
  { name: "0003_linear_iceberg", sql: linearIceberg },
];
