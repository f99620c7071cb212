-- Draft, proven on TimescaleDB 2.23 (PGlite build) by tests/integration/test_timescale_lite.py,
-- which runs this very file: the UP part, then the DOWN part. Copy the pieces into a migration's
-- timescale.up.sql / timescale.down.sql. See docs/timescale-lite.md for the measurements.
--
-- Like the migrations, names are unqualified: run it with search_path set to the project schema
-- followed by the schema that holds the extension, e.g. `market, public` (create_hypertable and
-- by_range are not found otherwise). Needs the timescaledb extension (created by
-- `market-assets db bootstrap`, 2.13+ for by_range) and the community licence
-- (timescaledb.license = 'timescale') for compression and caggs.
-- Every statement is plain SQL without parameters, so psycopg 3 can send the whole file as one
-- string, inside one transaction too (Alembic): CREATE MATERIALIZED VIEW ... WITH NO DATA is
-- allowed there, unlike the refresh. Keep the percent sign out of this file, comments included:
-- SQLAlchemy's exec_driver_sql() passes empty parameters, and psycopg then parses placeholders.

-- ==== UP ====

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
CREATE INDEX ohlcv_bars_session ON ohlcv_bars (symbol, session_date);

-- 7-day chunks. An FX symbol has ~1,440 M1 bars a day (an equity ~390), so a chunk holds ~10k
-- rows per symbol: ~1M rows (~150 MB with the primary key) for a hundred symbols, small enough
-- to stay in memory while it is being written, and each compressed segment (symbol, timeframe)
-- gets ~10 batches of 1,000 rows, which is where columnar compression pays. Compression and
-- retention act on whole chunks, so a week is also their granularity. Go to 1 day if the
-- universe grows past a few thousand symbols (keep a chunk under a quarter of the server's RAM).
SELECT create_hypertable('ohlcv_bars', by_range('ts', INTERVAL '7 days'));

-- The classic compression API works on every TimescaleDB 2.x; 2.18+ also accepts the same
-- settings as (timescaledb.enable_columnstore, timescaledb.segmentby, timescaledb.orderby) and
-- CALL add_columnstore_policy('ohlcv_bars', after => INTERVAL '30 days'): both proven.
ALTER TABLE ohlcv_bars SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'symbol, timeframe',
    timescaledb.compress_orderby = 'ts DESC'
);
-- Bars older than 30 days are rarely revised; an upsert into a compressed chunk still works
-- (TimescaleDB decompresses the affected segment), it is just slower.
SELECT add_compression_policy('ohlcv_bars', compress_after => INTERVAL '30 days');
-- Placeholder horizon: pick it from the product's needs. It must stay longer than every
-- refresh window below, or a refresh over dropped raw data would empty the rollups there.
SELECT add_retention_policy('ohlcv_bars', drop_after => INTERVAL '2 years');

-- Rollups as hierarchical continuous aggregates. Each level aggregates the one below, so
-- first()/last() take the child's first/last ordered by the child's bucket start.
--
-- Every level uses the same bucket origin, 2000-01-01 00:00 UTC (a Saturday): TimescaleDB
-- refuses a hierarchical cagg whose origin differs from its parent's, and D1 needs this origin
-- (see there). For 5m..4h buckets the origin changes nothing: H4 is still aligned to 00:00 UTC.
--
-- m5..h1 group by session_date too: a bucket of an hour or less never spans two sessions
-- (session boundaries fall on whole hours or outside trading hours). first_ts carries the
-- opening time of the first M1 bar so that D1 can be labelled by the session's real first bar
-- (an NYSE session opens 14:30 UTC, inside the 14:00 H1 bucket).
--
-- materialized_only = false (real-time aggregation): rows newer than the last refresh are
-- aggregated at query time, so a reader never sees a rollup lagging the raw bars.
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

-- ==== DOWN ====

-- Dropping a cagg removes its policy; dropping the hypertable removes its policies. Children
-- first: a cagg cannot be dropped while another cagg is built on it.
DROP MATERIALIZED VIEW IF EXISTS ohlcv_d1;
DROP MATERIALIZED VIEW IF EXISTS ohlcv_h4;
DROP MATERIALIZED VIEW IF EXISTS ohlcv_h1;
DROP MATERIALIZED VIEW IF EXISTS ohlcv_m30;
DROP MATERIALIZED VIEW IF EXISTS ohlcv_m15;
DROP MATERIALIZED VIEW IF EXISTS ohlcv_m5;
DROP TABLE IF EXISTS ohlcv_bars;
