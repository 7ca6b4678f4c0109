-- Issue #21, the lake stays clean.
-- versions.parent_version: the snapshot that was current when this one was made (Iceberg's
-- parent-snapshot-id), kept for the snapshot's life even after the parent expires: snapshots are
-- immutable. NULL for a table's first snapshot. Backfill: the previous kept version; for the
-- oldest kept one, version - 1 unless it is the table's first (created with the dataset).
ALTER TABLE versions ADD COLUMN parent_version INTEGER;
UPDATE versions SET parent_version = COALESCE(
  (SELECT MAX(p.version) FROM versions p WHERE p.name = versions.name AND p.version < versions.version),
  CASE WHEN versions.version > 1
        AND versions.created_at <> COALESCE((SELECT d.created_at FROM datasets d WHERE d.name = versions.name), '')
       THEN versions.version - 1 END
);

-- The orphan sweep asks "does any row list this key?" per object it lists: indexed look-ups.
CREATE INDEX versions_manifest_list ON versions (manifest_list);
CREATE INDEX versions_metadata_key ON versions (metadata_key);
CREATE INDEX iceberg_manifests_path ON iceberg_manifests (path);
CREATE INDEX datasets_metadata_key ON datasets (metadata_key);

-- Where the orphan sweep's listing of the dataset prefix stopped (one row; NULL: start over).
-- The cursor is only used with the prefix it was listed under.
CREATE TABLE orphan_sweep (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  prefix TEXT NOT NULL,
  cursor TEXT
);
