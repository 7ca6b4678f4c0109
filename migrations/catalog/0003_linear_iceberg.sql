-- Catalog storage linear in files (issue #13): a version no longer stores its whole object list.
-- `files` holds each object of a dataset once, with the span of versions that list it
-- [added_version, removed_version); a version's objects are the files live at it. `versions`
-- keeps one small row per version (schema, counts, its Iceberg snapshot's manifest list and
-- metadata file). `iceberg_manifests` holds each Iceberg manifest once, with its span too.
-- object_refs (one row per key per version: quadratic) is replaced by `files`.
CREATE TABLE files (
  name TEXT NOT NULL,
  key TEXT NOT NULL,
  size INTEGER NOT NULL,
  row_count INTEGER NOT NULL,
  content_sha256 TEXT,
  added_version INTEGER NOT NULL,
  removed_version INTEGER,  -- the first version that no longer lists it; NULL while live
  ord INTEGER NOT NULL,     -- load order within the dataset
  manifest TEXT,            -- the Iceberg manifest that lists it while live (NULL: written before Iceberg)
  data_file TEXT,           -- its Iceberg data_file record (JSON; bounds as hex), NULL until known
  PRIMARY KEY (name, key)
);
CREATE INDEX files_key ON files (key);
CREATE INDEX files_removed ON files (name, removed_version);

INSERT INTO files (name, key, size, row_count, content_sha256, added_version, removed_version, ord)
  SELECT v.name, json_extract(o.value, '$.key'), json_extract(o.value, '$.size'), json_extract(o.value, '$.row_count'),
         json_extract(o.value, '$.content_sha256'), MIN(v.version), NULL, MIN(v.version) * 1000000 + MIN(o.key)
  FROM versions v, json_each(v.manifest, '$.objects') o
  GROUP BY v.name, json_extract(o.value, '$.key');
UPDATE files SET removed_version = (
  SELECT MIN(v.version) FROM versions v
  WHERE v.name = files.name AND v.version > files.added_version
    AND NOT EXISTS (SELECT 1 FROM object_refs r WHERE r.name = v.name AND r.version = v.version AND r.key = files.key)
);

CREATE TABLE versions_linear (
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  schema TEXT NOT NULL,             -- JSON SchemaField[]
  schema_fingerprint TEXT NOT NULL,
  row_count INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  file_count INTEGER NOT NULL,
  operation TEXT NOT NULL,          -- append | overwrite | replace (compaction)
  created_at TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  manifest_list TEXT,               -- the snapshot's Iceberg manifest list key (NULL: written before Iceberg)
  metadata_key TEXT,                -- the table metadata JSON written with this snapshot
  summary TEXT,                     -- the snapshot summary (JSON)
  PRIMARY KEY (name, version)
);
INSERT INTO versions_linear (name, version, schema, schema_fingerprint, row_count, bytes, file_count, operation, created_at, created_ms)
  SELECT v.name, v.version, json_extract(v.manifest, '$.schema'), json_extract(v.manifest, '$.schema_fingerprint'),
         json_extract(v.manifest, '$.row_count'),
         (SELECT COALESCE(SUM(json_extract(o.value, '$.size')), 0) FROM json_each(v.manifest, '$.objects') o),
         json_array_length(v.manifest, '$.objects'), 'overwrite', v.created_at,
         CAST((julianday(v.created_at) - 2440587.5) * 86400000 AS INTEGER)
  FROM versions v;
DROP TABLE versions;
ALTER TABLE versions_linear RENAME TO versions;
DROP TABLE object_refs;

CREATE TABLE iceberg_manifests (
  name TEXT NOT NULL,
  path TEXT NOT NULL,               -- storage key of the manifest (Avro)
  added_version INTEGER NOT NULL,
  removed_version INTEGER,          -- first snapshot whose manifest list no longer holds it
  record TEXT NOT NULL,             -- its manifest-list entry (JSON)
  PRIMARY KEY (name, path)
);
CREATE INDEX iceberg_manifests_removed ON iceberg_manifests (name, removed_version);

ALTER TABLE datasets ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE datasets ADD COLUMN file_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE datasets ADD COLUMN table_uuid TEXT;
ALTER TABLE datasets ADD COLUMN metadata_key TEXT;   -- the current Iceberg table metadata JSON
UPDATE datasets SET
  bytes = (SELECT bytes FROM versions v WHERE v.name = datasets.name AND v.version = datasets.current_version),
  file_count = (SELECT file_count FROM versions v WHERE v.name = datasets.name AND v.version = datasets.current_version);
