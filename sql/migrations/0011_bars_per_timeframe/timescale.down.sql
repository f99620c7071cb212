-- 0011 down, TimescaleDB: back to one time dimension (0001..0010), every row moved, the
-- continuous aggregates recreated as in 0010 and refreshed by `db.migrate`.

-- The compression policy carries over, M1's retention becomes the hypertable's again (other
-- timeframes' retention has no place before 0011: their bars are kept).
CREATE TEMP TABLE ohlcv_0011_policies ON COMMIT DROP AS
SELECT proc_name, config FROM timescaledb_information.jobs
WHERE (hypertable_schema = current_schema() AND hypertable_name = 'ohlcv_bars'
       AND proc_name = 'policy_compression')
   OR (proc_schema = current_schema() AND proc_name = 'bar_retention_job');

SELECT set_bar_retention('{}'::jsonb);
DROP VIEW IF EXISTS ohlcv_mn1;
DROP VIEW IF EXISTS ohlcv_w1;
DROP VIEW IF EXISTS ohlcv_daily;
-- Children first: a cagg cannot be dropped while another is built on it.
DROP MATERIALIZED VIEW IF EXISTS ohlcv_d1;
DROP MATERIALIZED VIEW IF EXISTS ohlcv_h4;
DROP MATERIALIZED VIEW IF EXISTS ohlcv_h1;
DROP MATERIALIZED VIEW IF EXISTS ohlcv_m30;
DROP MATERIALIZED VIEW IF EXISTS ohlcv_m15;
DROP MATERIALIZED VIEW IF EXISTS ohlcv_m5;
DROP FUNCTION IF EXISTS set_bar_retention(jsonb);
DROP PROCEDURE IF EXISTS bar_retention_job(integer, jsonb);
DROP FUNCTION IF EXISTS drop_bar_partitions_before(text, timestamptz);
DROP FUNCTION IF EXISTS ensure_bar_partitions(timestamptz, timestamptz, text[]);

ALTER TABLE ohlcv_bars RENAME TO ohlcv_bars_old;
ALTER TABLE ohlcv_bars_old RENAME CONSTRAINT ohlcv_bars_pkey TO ohlcv_bars_old_pkey;

CREATE TABLE ohlcv_bars (
    symbol       text             NOT NULL,
    timeframe    text             NOT NULL,
    ts           timestamptz      NOT NULL,
    session_date date             NOT NULL,
    open         double precision NOT NULL,
    high         double precision NOT NULL,
    low          double precision NOT NULL,
    close        double precision NOT NULL,
    volume       double precision NOT NULL,
    adj_factor   double precision NOT NULL DEFAULT 1,
    source       text             NOT NULL,
    ingested_at  timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, timeframe, ts)
);
-- No default ts index (0009): the primary key serves every query of the project.
SELECT create_hypertable('ohlcv_bars', 'ts', chunk_time_interval => interval '7 days',
                         create_default_indexes => false);
ALTER TABLE ohlcv_bars SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'symbol, timeframe',
    timescaledb.compress_orderby = 'ts DESC'
);

INSERT INTO ohlcv_bars SELECT * FROM ohlcv_bars_old;
DROP TABLE ohlcv_bars_old;
DROP FUNCTION IF EXISTS bar_timeframe_rank(text);

CREATE MATERIALIZED VIEW ohlcv_m5
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '5 minutes', ts, origin => TIMESTAMPTZ '2000-01-01 00:00+00') AS ts,
       symbol,
       session_date,
       min(ts)           AS first_ts,
       first(open, ts)   AS open,
       max(high)         AS high,
       min(low)          AS low,
       last(close, ts)   AS close,
       sum(volume)       AS volume,
       count(*)          AS bar_count
FROM ohlcv_bars
WHERE timeframe IN ('M1', 'M5', 'M15', 'M30', 'H1', 'H4')
GROUP BY 1, symbol, session_date
WITH NO DATA;

CREATE MATERIALIZED VIEW ohlcv_m15
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '15 minutes', ts, origin => TIMESTAMPTZ '2000-01-01 00:00+00') AS ts,
       symbol,
       session_date,
       min(first_ts)       AS first_ts,
       first(open, ts)     AS open,
       max(high)           AS high,
       min(low)            AS low,
       last(close, ts)     AS close,
       sum(volume)         AS volume,
       sum(bar_count)::bigint AS bar_count
FROM ohlcv_m5
GROUP BY 1, symbol, session_date
WITH NO DATA;

CREATE MATERIALIZED VIEW ohlcv_m30
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '30 minutes', ts, origin => TIMESTAMPTZ '2000-01-01 00:00+00') AS ts,
       symbol,
       session_date,
       min(first_ts)       AS first_ts,
       first(open, ts)     AS open,
       max(high)           AS high,
       min(low)            AS low,
       last(close, ts)     AS close,
       sum(volume)         AS volume,
       sum(bar_count)::bigint AS bar_count
FROM ohlcv_m15
GROUP BY 1, symbol, session_date
WITH NO DATA;

CREATE MATERIALIZED VIEW ohlcv_h1
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', ts, origin => TIMESTAMPTZ '2000-01-01 00:00+00') AS ts,
       symbol,
       session_date,
       min(first_ts)       AS first_ts,
       first(open, ts)     AS open,
       max(high)           AS high,
       min(low)            AS low,
       last(close, ts)     AS close,
       sum(volume)         AS volume,
       sum(bar_count)::bigint AS bar_count
FROM ohlcv_m30
GROUP BY 1, symbol, session_date
WITH NO DATA;

-- H4 buckets start at 00/04/08/12/16/20 UTC. No session_date: an FX session ends at 22:00 UTC,
-- inside the 20:00 bucket, so an H4 bar can hold two sessions.
CREATE MATERIALIZED VIEW ohlcv_h4
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '4 hours', ts, origin => TIMESTAMPTZ '2000-01-01 00:00+00') AS ts,
       symbol,
       min(first_ts)       AS first_ts,
       first(open, ts)     AS open,
       max(high)           AS high,
       min(low)            AS low,
       last(close, ts)     AS close,
       sum(volume)         AS volume,
       sum(bar_count)::bigint AS bar_count
FROM ohlcv_h1
GROUP BY 1, symbol
WITH NO DATA;

-- D1 is one row per (symbol, session_date). A cagg must bucket its parent's time column, so
-- the bucket is a week starting Saturday 00:00 UTC: no market in scope trades on a Saturday
-- (UTC), so no session straddles two weeks and the week is only a carrier for the grouping by
-- session_date. ts is the opening time of the session's first M1 bar.
CREATE MATERIALIZED VIEW ohlcv_d1
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '7 days', ts, origin => TIMESTAMPTZ '2000-01-01 00:00+00') AS week,
       symbol,
       session_date,
       min(first_ts)       AS ts,
       first(open, ts)     AS open,
       max(high)           AS high,
       min(low)            AS low,
       last(close, ts)     AS close,
       sum(volume)         AS volume,
       sum(bar_count)::bigint AS bar_count
FROM ohlcv_h1
GROUP BY 1, symbol, session_date
WITH NO DATA;

-- Refresh policies (a window must span at least two buckets of its cagg). The pipeline also
-- calls refresh_continuous_aggregate() for the window it has just loaded, children first:
-- m5, m15, m30, h1, h4, d1 (it cannot run inside a transaction block).
SELECT add_continuous_aggregate_policy('ohlcv_m5', start_offset => INTERVAL '3 days',
    end_offset => NULL, schedule_interval => INTERVAL '30 minutes');
SELECT add_continuous_aggregate_policy('ohlcv_m15', start_offset => INTERVAL '3 days',
    end_offset => NULL, schedule_interval => INTERVAL '30 minutes');
SELECT add_continuous_aggregate_policy('ohlcv_m30', start_offset => INTERVAL '3 days',
    end_offset => NULL, schedule_interval => INTERVAL '30 minutes');
SELECT add_continuous_aggregate_policy('ohlcv_h1', start_offset => INTERVAL '3 days',
    end_offset => NULL, schedule_interval => INTERVAL '1 hour');
SELECT add_continuous_aggregate_policy('ohlcv_h4', start_offset => INTERVAL '7 days',
    end_offset => NULL, schedule_interval => INTERVAL '1 hour');
SELECT add_continuous_aggregate_policy('ohlcv_d1', start_offset => INTERVAL '21 days',
    end_offset => NULL, schedule_interval => INTERVAL '1 hour');

-- W1 and MN1 over every daily bar: the D1 rollup of intraday bases and the D1 base's own bars
-- (in d1's shape, bar_count 1). A symbol has one base, so the two never both hold a session.
-- A W1 base is read from ohlcv_bars; it cannot give MN1 (weeks straddle months).
CREATE VIEW ohlcv_daily AS
SELECT symbol, session_date, ts, open, high, low, close, volume, bar_count FROM ohlcv_d1
UNION ALL
SELECT symbol, session_date, ts, open, high, low, close, volume, 1::bigint AS bar_count
FROM ohlcv_bars WHERE timeframe = 'D1';

CREATE VIEW ohlcv_w1 AS
SELECT symbol,
       (session_date - (extract(isodow FROM session_date)::int - 1))::date AS week_start,
       min(ts)                                AS ts,
       (array_agg(open ORDER BY ts))[1]       AS open,
       max(high)                              AS high,
       min(low)                               AS low,
       (array_agg(close ORDER BY ts DESC))[1] AS close,
       sum(volume)                            AS volume,
       sum(bar_count)::bigint                 AS bar_count,
       count(*)                               AS sessions
FROM ohlcv_daily
GROUP BY symbol, 2;

CREATE VIEW ohlcv_mn1 AS
SELECT symbol,
       date_trunc('month', session_date)::date AS month_start,
       min(ts)                                AS ts,
       (array_agg(open ORDER BY ts))[1]       AS open,
       max(high)                              AS high,
       min(low)                               AS low,
       (array_agg(close ORDER BY ts DESC))[1] AS close,
       sum(volume)                            AS volume,
       sum(bar_count)::bigint                 AS bar_count,
       count(*)                               AS sessions
FROM ohlcv_daily
GROUP BY symbol, 2;

SELECT add_compression_policy('ohlcv_bars', compress_after => (config->>'compress_after')::interval)
FROM ohlcv_0011_policies WHERE proc_name = 'policy_compression';
SELECT add_retention_policy('ohlcv_bars', drop_after => (config->>'M1')::interval)
FROM ohlcv_0011_policies WHERE proc_name = 'bar_retention_job' AND config ? 'M1';
