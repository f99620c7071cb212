-- The latest raw_bars collection outcome of each partition key in %(keys)s: the per-partition
-- gate that keeps held-back partitions out of the database.
SELECT DISTINCT ON (partition_key) partition_key, status
FROM data_collection_log
WHERE asset = 'raw_bars' AND partition_key = ANY(%(keys)s)
ORDER BY partition_key, started_at DESC, id DESC
