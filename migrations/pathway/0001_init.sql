-- PathwayMemory: append-only, versioned traces. content and tags are JSON text;
-- times are nanoseconds since the epoch as decimal strings (they exceed 2^53).
CREATE TABLE traces (
  uid TEXT PRIMARY KEY,
  content TEXT NOT NULL,
  predecessor_uid TEXT,
  created_at_ns TEXT NOT NULL,
  updated_at_ns TEXT NOT NULL,
  retired INTEGER NOT NULL DEFAULT 0,
  replay_count INTEGER NOT NULL DEFAULT 0,
  tags TEXT
);
CREATE INDEX traces_predecessor ON traces (predecessor_uid);
CREATE TABLE trace_tags (
  uid TEXT NOT NULL,
  tag TEXT NOT NULL,
  PRIMARY KEY (tag, uid)
);
