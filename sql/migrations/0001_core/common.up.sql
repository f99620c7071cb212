-- 0001_core, both dialects: logs, quality metrics, quarantine, company masters, grants.
-- Runs with search_path set to the project schema; names are unqualified on purpose.

CREATE TABLE data_collection_log (
    id               bigserial PRIMARY KEY,
    run_id           text,
    asset            text        NOT NULL,
    partition_key    text,
    symbol           text,
    session_date     date,
    source           text,
    status           text        NOT NULL CHECK (status IN ('started', 'success', 'partial', 'failed')),
    rows_in          bigint      NOT NULL DEFAULT 0,
    rows_written     bigint      NOT NULL DEFAULT 0,
    rows_quarantined bigint      NOT NULL DEFAULT 0,
    rows_revised     bigint      NOT NULL DEFAULT 0,
    rows_deleted     bigint      NOT NULL DEFAULT 0,
    error            text,
    started_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
CREATE INDEX data_collection_log_asset_time ON data_collection_log (asset, started_at DESC);
CREATE INDEX data_collection_log_symbol_date ON data_collection_log (symbol, session_date);

CREATE TABLE data_quality_metrics (
    id            bigserial PRIMARY KEY,
    run_id        text,
    asset         text        NOT NULL,
    partition_key text,
    check_name    text        NOT NULL,
    passed        boolean     NOT NULL,
    severity      text        NOT NULL DEFAULT 'ERROR' CHECK (severity IN ('WARN', 'ERROR')),
    figures       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    evaluated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX data_quality_metrics_check_time
    ON data_quality_metrics (asset, check_name, evaluated_at DESC);

CREATE TABLE quarantine (
    id             bigserial PRIMARY KEY,
    run_id         text,
    asset          text        NOT NULL,
    partition_key  text,
    symbol         text,
    session_date   date,
    source_ref     text,
    rule           text        NOT NULL,
    reason         text        NOT NULL,
    row_data       jsonb       NOT NULL,
    quarantined_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quarantine_partition ON quarantine (asset, partition_key);

CREATE TABLE markets (
    code       text PRIMARY KEY,
    name_ja    text NOT NULL,
    name_en    text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sector17 (
    code       text PRIMARY KEY,
    name_ja    text NOT NULL,
    name_en    text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sector33 (
    code       text PRIMARY KEY,
    name_ja    text NOT NULL,
    name_en    text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE companies (
    id                   bigserial PRIMARY KEY,
    code                 text        NOT NULL UNIQUE CHECK (code ~ '^[0-9A-Z]{4,5}$'),
    company_name         text        NOT NULL,
    company_name_english text,
    sector17_code        text        REFERENCES sector17 (code),
    sector33_code        text        REFERENCES sector33 (code),
    market_code          text        REFERENCES markets (code),
    scale_category       text,
    margin_code          text,
    reference_date       date,
    is_active            boolean     NOT NULL DEFAULT true,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX companies_active ON companies (is_active, market_code);

CREATE TABLE company_sync_log (
    id                bigserial PRIMARY KEY,
    run_id            text,
    source            text        NOT NULL,
    started_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    status            text        NOT NULL CHECK (status IN ('running', 'success', 'failed')),
    new_count         integer     NOT NULL DEFAULT 0,
    updated_count     integer     NOT NULL DEFAULT 0,
    deactivated_count integer     NOT NULL DEFAULT 0,
    unchanged_count   integer     NOT NULL DEFAULT 0,
    error             text
);
