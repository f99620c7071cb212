-- 0004_company_search, both dialects: name search over the company master, the history of
-- every company change, and what each sync saw and held back.
-- Runs with search_path set to the project schema; names are unqualified on purpose.

-- Name search. pg_trgm (created by `db bootstrap` where the server offers it) gives GIN
-- indexes that serve ILIKE '%text%' and similarity ranking in Japanese and English; without it,
-- btree indexes on lower(name) still serve prefix searches. The operator class is qualified
-- with the extension's own schema, which need not be on the search path.
DO $do$
DECLARE
    trgm_schema text := (SELECT n.nspname FROM pg_extension e
                         JOIN pg_namespace n ON n.oid = e.extnamespace
                         WHERE e.extname = 'pg_trgm');
BEGIN
    IF trgm_schema IS NOT NULL THEN
        EXECUTE format('CREATE INDEX companies_name_trgm ON companies'
                       ' USING gin (company_name %I.gin_trgm_ops)', trgm_schema);
        EXECUTE format('CREATE INDEX companies_name_en_trgm ON companies'
                       ' USING gin (company_name_english %I.gin_trgm_ops)', trgm_schema);
    ELSE
        CREATE INDEX companies_name_lower ON companies (lower(company_name) text_pattern_ops);
        CREATE INDEX companies_name_en_lower
            ON companies (lower(company_name_english) text_pattern_ops);
    END IF;
END;
$do$;

-- The master is one row per code (not partitioned by date); its history is this table: one
-- row per change with the row before and after, tied to the sync that made it.
CREATE TABLE company_changes (
    id         bigserial PRIMARY KEY,
    sync_id    bigint      REFERENCES company_sync_log (id),
    code       text        NOT NULL,
    change     text        NOT NULL CHECK (change IN ('new', 'updated', 'deactivated', 'reactivated')),
    before     jsonb,
    after      jsonb,
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX company_changes_code_time ON company_changes (code, changed_at DESC);
CREATE INDEX company_changes_sync ON company_changes (sync_id);

-- What a sync read and held back, beside the counts it already reports.
ALTER TABLE company_sync_log
    ADD COLUMN source_rows       integer NOT NULL DEFAULT 0,
    ADD COLUMN quarantined_count integer NOT NULL DEFAULT 0,
    ADD COLUMN reference_date    date;
CREATE INDEX company_sync_log_status_time ON company_sync_log (status, finished_at DESC);
