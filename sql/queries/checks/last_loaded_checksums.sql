-- The checksum of the object each partition was last loaded from by db_bars ("" for none),
-- for the partition keys in %(keys)s. Loads of one partition commit one after the other under
-- its lock, so the highest id is the last load.
SELECT DISTINCT ON (partition_key) partition_key, object_checksum
FROM data_collection_log
WHERE asset = 'db_bars' AND partition_key = ANY(%(keys)s)
ORDER BY partition_key, id DESC
