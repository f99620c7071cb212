DROP INDEX IF EXISTS company_sync_log_status_time;
ALTER TABLE company_sync_log
    DROP COLUMN IF EXISTS reference_date,
    DROP COLUMN IF EXISTS quarantined_count,
    DROP COLUMN IF EXISTS source_rows;
DROP TABLE IF EXISTS company_changes;
DROP INDEX IF EXISTS companies_name_en_lower;
DROP INDEX IF EXISTS companies_name_lower;
DROP INDEX IF EXISTS companies_name_en_trgm;
DROP INDEX IF EXISTS companies_name_trgm;
