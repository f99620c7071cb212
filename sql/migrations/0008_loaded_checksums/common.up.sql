-- 0008: the content checksum of each partition's object, as raw_bars wrote it and as db_bars
-- loaded it. The S3/database reconciliation tells "S3 holds a newer object, not loaded yet"
-- (a concurrent run's write) from drift: the database must equal what its last load loaded.
ALTER TABLE data_collection_log ADD COLUMN IF NOT EXISTS object_checksum text;
