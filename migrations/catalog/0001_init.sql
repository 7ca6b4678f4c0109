-- The Catalog Durable Object's schema. One row per live dataset; one row per version
-- (the whole manifest as JSON, immutable once written); and a per-name version counter
-- that outlives a delete, so a name's version numbers never repeat (caches keyed by
-- (name, version) stay correct after delete + re-create).
CREATE TABLE datasets (
  name TEXT PRIMARY KEY,
  dataset_id TEXT NOT NULL,
  schema_fingerprint TEXT NOT NULL,
  current_version INTEGER NOT NULL,
  row_count INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

CREATE TABLE versions (
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  manifest TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (name, version)
);

CREATE TABLE version_counters (
  name TEXT PRIMARY KEY,
  last_version INTEGER NOT NULL
);
