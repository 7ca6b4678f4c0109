-- The EmbedCache Durable Object: one LRU of embeddings shared by every embed isolate.
CREATE TABLE IF NOT EXISTS entries (
  key TEXT PRIMARY KEY,          -- model + "\n" + hex SHA-256 of the text
  vector BLOB NOT NULL,          -- Float32 little-endian
  last_used INTEGER NOT NULL     -- monotonic use counter: the LRU order
);
CREATE INDEX IF NOT EXISTS entries_lru ON entries (last_used);
CREATE TABLE IF NOT EXISTS stats (
  name TEXT PRIMARY KEY,         -- "hits", "misses", "clock"
  value INTEGER NOT NULL
);
