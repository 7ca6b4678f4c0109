-- The QueryEngine Durable Object's bookkeeping. Each catalog dataset that a query has
-- touched (or an ingest has warmed) is a view named like the dataset over a physical
-- table `_lh_data_<random>` holding one catalog version. A newer version is loaded into a
-- new physical table, the view is re-pointed, and the old table is dropped (or, when an
-- abandoned cursor still reads it, queued in _lh_garbage and dropped later).
CREATE TABLE _lh_tables (
  name TEXT PRIMARY KEY,
  physical TEXT NOT NULL,
  version INTEGER NOT NULL,
  row_count INTEGER NOT NULL,
  schema TEXT NOT NULL,
  load_ms REAL NOT NULL,
  loaded_at TEXT NOT NULL
);

CREATE TABLE _lh_garbage (
  physical TEXT PRIMARY KEY
);
