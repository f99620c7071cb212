-- 0005_landing_files, both dialects: the ledger of vendor files dropped in the landing zone.
-- Runs with search_path set to the project schema; names are unqualified on purpose.
--
-- One row per version of a file: (file_key, etag) is unique, so the same bytes are accounted
-- for exactly once, and a file replaced under the same key (new etag) is a new version that
-- is processed again. `partitions` lists the (session_date, symbol) pairs the version covers,
-- so that a sensor can request exactly those partitions and an operator can see why a
-- partition was rewritten.
CREATE TABLE landing_files (
    id            bigserial   PRIMARY KEY,
    file_key      text        NOT NULL,
    etag          text        NOT NULL,
    size_bytes    bigint      NOT NULL CHECK (size_bytes >= 0),
    checksum      text,
    vendor        text        NOT NULL,
    status        text        NOT NULL
                  CHECK (status IN ('discovered', 'processing', 'processed', 'rejected')),
    first_seen    timestamptz NOT NULL DEFAULT now(),
    processed_at  timestamptz,
    partitions    jsonb       NOT NULL DEFAULT '[]'::jsonb,
    rows_total    integer,
    rows_unassigned integer,
    issues        jsonb       NOT NULL DEFAULT '[]'::jsonb,
    error         text,
    run_id        text,
    UNIQUE (file_key, etag)
);
CREATE INDEX landing_files_status ON landing_files (status, first_seen);
CREATE INDEX landing_files_key ON landing_files (file_key, first_seen DESC);
