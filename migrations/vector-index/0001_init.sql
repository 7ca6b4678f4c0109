-- One VectorIndex Durable Object = one shard of one logical index.
-- Every vector ever added keeps its HNSW node number; a delete or an upsert tombstones the
-- old node (live = 0) until the next compaction renumbers the live ones.
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS vectors (
  node INTEGER PRIMARY KEY,
  id TEXT NOT NULL,
  vector BLOB NOT NULL,      -- Float32 little-endian, normalised under cosine
  metadata TEXT,             -- JSON object or NULL
  live INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX IF NOT EXISTS vectors_live_id ON vectors (id) WHERE live = 1;
-- The HNSW graph of nodes 0..graph_size-1 (meta key graph_size), in ≤ 1 MiB chunks.
CREATE TABLE IF NOT EXISTS graph_chunks (
  part INTEGER PRIMARY KEY,
  data BLOB NOT NULL
);
