DROP INDEX IF EXISTS landing_files_key;
DROP INDEX IF EXISTS landing_files_status;
DROP TABLE IF EXISTS landing_files;
