-- Observer: the durable op log (persist, then apply to the in-memory ring) and what
-- the cycles derive from it. JSON columns hold text; times are ISO-8601 strings,
-- ts_ms is the op's time in epoch milliseconds for range queries.
CREATE TABLE ops (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ts_ms INTEGER NOT NULL,
  source TEXT NOT NULL,
  success INTEGER NOT NULL,
  endpoint TEXT NOT NULL,
  op TEXT NOT NULL
);
CREATE INDEX ops_ts ON ops (ts_ms);
CREATE INDEX ops_source ON ops (source, id);

-- Small named values: cursors (corrections offset, analysed op id) and the cycle lease.
CREATE TABLE state (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

-- Failure clusters: one per sig_hash, or per endpoint + normalised error without one.
CREATE TABLE clusters (
  id TEXT PRIMARY KEY,
  sig_hash TEXT,
  endpoint TEXT NOT NULL,
  normalized_error TEXT NOT NULL,
  count INTEGER NOT NULL,
  first_seen TEXT NOT NULL,
  last_seen TEXT NOT NULL,
  endpoints TEXT NOT NULL,
  sample_errors TEXT NOT NULL,
  recommended_count INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE recommendations (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  cluster_id TEXT NOT NULL,
  created_at TEXT NOT NULL,
  cluster_count INTEGER NOT NULL,
  text TEXT NOT NULL,
  source TEXT NOT NULL,
  model TEXT,
  llm_error TEXT
);
CREATE INDEX recommendations_cluster ON recommendations (cluster_id, id);

-- Endpoint patterns: success/failure counters; promoted_at marks a playbook.
CREATE TABLE patterns (
  pattern TEXT PRIMARY KEY,
  successes INTEGER NOT NULL DEFAULT 0,
  failures INTEGER NOT NULL DEFAULT 0,
  first_seen TEXT NOT NULL,
  last_seen TEXT NOT NULL,
  samples TEXT NOT NULL,
  promoted_at TEXT,
  matrix_playbook_id TEXT,
  matrix_recorded_at TEXT,
  matrix_error TEXT
);

-- One escalation per cluster, ever (UNIQUE). status pending → done; a pending one left by
-- a failed cycle is finished by the next.
CREATE TABLE escalations (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  cluster_id TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  cluster_count INTEGER NOT NULL,
  status TEXT NOT NULL,
  briefing TEXT,
  answer TEXT,
  source TEXT,
  model TEXT,
  llm_error TEXT,
  completed_at TEXT
);

CREATE TABLE reviews (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  created_at TEXT NOT NULL,
  input TEXT NOT NULL,
  verdict TEXT NOT NULL,
  confidence REAL NOT NULL,
  notes TEXT NOT NULL,
  source TEXT NOT NULL,
  model TEXT,
  llm_error TEXT
);

CREATE TABLE cycles (
  id TEXT PRIMARY KEY,
  trigger TEXT NOT NULL,
  started_at TEXT NOT NULL,
  finished_at TEXT,
  summary TEXT
);
