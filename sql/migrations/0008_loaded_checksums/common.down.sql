ALTER TABLE data_collection_log DROP COLUMN IF EXISTS object_checksum;
