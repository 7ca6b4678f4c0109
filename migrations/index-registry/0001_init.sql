-- The IndexRegistry Durable Object: names, specs and counts of every vector index.
CREATE TABLE IF NOT EXISTS indexes (
  name TEXT PRIMARY KEY,
  dimension INTEGER NOT NULL,
  distance TEXT NOT NULL,
  m INTEGER NOT NULL,
  ef_search INTEGER NOT NULL,
  shards INTEGER NOT NULL,
  engine TEXT NOT NULL,
  shard_counts TEXT NOT NULL,   -- JSON array, one count per shard (local engine)
  created_at TEXT NOT NULL
);
-- Ids held by each index on the vectorize engine (Vectorize cannot list or count a namespace).
CREATE TABLE IF NOT EXISTS vectorize_ids (
  name TEXT NOT NULL,
  id TEXT NOT NULL,
  PRIMARY KEY (name, id)
);
