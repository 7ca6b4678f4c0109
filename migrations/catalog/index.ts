// The Catalog Durable Object's SQLite migrations, applied in order, each once, at start.
// 0002: object_refs (which versions list which keys: registration and deletion rules) and
// staging (leases of staged ingest uploads, for the sweep).
// 0003: storage linear in files (`files` with each object's span of versions replaces
// object_refs and the per-version object lists), Iceberg snapshots and manifests.
// 0004: each snapshot's parent kept for its life (parent_version), indexes for the orphan
// sweep's look-ups, and the sweep's resume cursor.
import type { Migration } from "../../shared/migrations";
import init from "./0001_init.sql";
import refsStaging from "./0002_refs_staging.sql";
import linearIceberg from "./0003_linear_iceberg.sql";
import parentsOrphans from "./0004_parents_orphans.sql";

export const MIGRATIONS: Migration[] = [
  { name: "0001_init", sql: init },
  { name: "0002_refs_staging", sql: refsStaging },
  { name: "0003_linear_iceberg", sql: linearIceberg },
  { name: "0004_parents_orphans", sql: parentsOrphans },
];
