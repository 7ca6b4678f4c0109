-- How a local-engine index holds its vectors in memory: "none" (float32) or "int8".
-- Indexes created before this column existed hold float32 vectors.
ALTER TABLE indexes ADD COLUMN quantization TEXT NOT NULL DEFAULT 'none';
