-- Which dataset versions list which object keys (one row per key per version), so that
-- registration can refuse a key another dataset lists and deletion removes only keys no kept
-- version of any dataset lists any more. Backfilled from the manifests already stored.
-- And the leases of staged ingest uploads (`_ingest/<uuid>.csv`): a running ingest holds one
-- and renews it; the sweep deletes staged objects whose lease is missing or expired.
CREATE TABLE object_refs (
  key TEXT NOT NULL,
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  PRIMARY KEY (key, name, version)
);
CREATE INDEX object_refs_name ON object_refs (name, version);

INSERT OR IGNORE INTO object_refs (key, name, version)
  SELECT json_extract(o.value, '$.key'), v.name, v.version FROM versions v, json_each(v.manifest, '$.objects') o;

CREATE TABLE staging (
  key TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL -- epoch milliseconds
);
