-- Issue #13 (an engine that costs what changed): per loaded dataset, the size estimate the
-- engine budgets with ([queryd].local_cache_mb: the JSON text the loader inserted), when a
-- query last read it (ms since the epoch; least recently used goes first when the budget is
-- exceeded), and how its table was filled: the last load "full" (every object) or
-- "incremental" (an append: only the new objects), the rows that load read, and how many
-- loads of each kind the table has had since it entered this replica.
ALTER TABLE _lh_tables ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE _lh_tables ADD COLUMN last_used_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE _lh_tables ADD COLUMN last_load TEXT NOT NULL DEFAULT 'full';
ALTER TABLE _lh_tables ADD COLUMN last_load_rows INTEGER NOT NULL DEFAULT 0;
ALTER TABLE _lh_tables ADD COLUMN loads_full INTEGER NOT NULL DEFAULT 0;
ALTER TABLE _lh_tables ADD COLUMN loads_incremental INTEGER NOT NULL DEFAULT 0;
