DROP TABLE IF EXISTS company_sync_log;
DROP TABLE IF EXISTS companies;
DROP TABLE IF EXISTS sector33;
DROP TABLE IF EXISTS sector17;
DROP TABLE IF EXISTS markets;
DROP TABLE IF EXISTS quarantine;
DROP TABLE IF EXISTS data_quality_metrics;
DROP TABLE IF EXISTS data_collection_log;
