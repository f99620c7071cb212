-- 0010 down, TimescaleDB: the continuous aggregates over M1 bars only again (0002, 0003).

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
WHERE timeframe = 'M1'
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
FROM ohlcv_d1
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
FROM ohlcv_d1
GROUP BY symbol, 2;
