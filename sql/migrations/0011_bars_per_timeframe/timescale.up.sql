-- 0011, TimescaleDB: ohlcv_bars gains a second dimension, the timeframe (an open dimension of
-- interval 1 over bar_timeframe_rank(timeframe)), so every chunk holds one timeframe's bars
-- of one week, and retention drops one timeframe's chunks (drop_bar_partitions_before, run by
-- the `bar_retention_job` job) and never another's. Retention policies act on a whole
-- hypertable's chunks by time; a hypertable per timeframe would break the M5 continuous
-- aggregate, which reads every intraday timeframe (a cagg has one parent and no UNION).
-- add_dimension needs an empty hypertable, so the table is rebuilt and every row moved; the
-- continuous aggregates depend on it and are recreated as in 0010 (`db.migrate` refreshes
-- them over every bar held afterwards; see docs/DESIGN.md for the rows retention had dropped).
-- The bars' compression policy carries over, and a hypertable-wide retention policy (M1's,
-- from `db policies` before 0011) becomes M1's entry of the new retention job.

CREATE TEMP TABLE ohlcv_0011_policies ON COMMIT DROP AS
SELECT proc_name, config FROM timescaledb_information.jobs
WHERE hypertable_schema = current_schema() AND hypertable_name = 'ohlcv_bars'
  AND proc_name IN ('policy_compression', 'policy_retention');

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

-- The timeframe's place in the dimension: one slice per timeframe (0 for none of the nine,
-- which the loads' contract never lets through).
CREATE FUNCTION bar_timeframe_rank(timeframe text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT coalesce(array_position(
        ARRAY['M1', 'M5', 'M15', 'M30', 'H1', 'H4', 'D1', 'W1', 'MN1'], timeframe), 0)
$fn$;

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
SELECT add_dimension('ohlcv_bars', by_range('timeframe', 1, partition_func => 'bar_timeframe_rank'));

ALTER TABLE ohlcv_bars SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'symbol, timeframe',
    timescaledb.compress_orderby = 'ts DESC'
);

INSERT INTO ohlcv_bars SELECT * FROM ohlcv_bars_old;
DROP TABLE ohlcv_bars_old;

-- Same names as the plain dialect, so the loads and maintenance do not branch on the dialect.
CREATE FUNCTION ensure_bar_partitions(lo timestamptz, hi timestamptz, timeframes text[])
RETURNS integer LANGUAGE sql AS $fn$ SELECT 0 $fn$;

-- Drops `timeframe`'s chunks that end before `older_than` (whole chunks, as drop_chunks does,
-- but of one timeframe: drop_chunks selects by time only).
CREATE FUNCTION drop_bar_partitions_before(timeframe text, older_than timestamptz)
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
    r       record;
    dropped integer := 0;
    rank    integer := bar_timeframe_rank(timeframe);
BEGIN
    IF rank = 0 THEN
        RAISE EXCEPTION 'unknown timeframe %', timeframe;
    END IF;
    FOR r IN
        SELECT format('%I.%I', ch.schema_name, ch.table_name) AS chunk
        FROM _timescaledb_catalog.chunk ch
        JOIN _timescaledb_catalog.hypertable h ON h.id = ch.hypertable_id
        JOIN _timescaledb_catalog.chunk_constraint cf ON cf.chunk_id = ch.id
        JOIN _timescaledb_catalog.dimension_slice sf ON sf.id = cf.dimension_slice_id
        JOIN _timescaledb_catalog.dimension df
             ON df.id = sf.dimension_id AND df.column_name = 'timeframe'
        JOIN _timescaledb_catalog.chunk_constraint ct ON ct.chunk_id = ch.id
        JOIN _timescaledb_catalog.dimension_slice st ON st.id = ct.dimension_slice_id
        JOIN _timescaledb_catalog.dimension dt ON dt.id = st.dimension_id AND dt.column_name = 'ts'
        WHERE h.schema_name = current_schema() AND h.table_name = 'ohlcv_bars'
          AND NOT ch.dropped
          AND sf.range_start = rank
          AND st.range_end <= (extract(epoch FROM older_than) * 1000000)::bigint
    LOOP
        EXECUTE 'DROP TABLE ' || r.chunk;
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END;
$fn$;

-- The bars' retention as one TimescaleDB job; config: {"M1": "6 months", ...}.
CREATE PROCEDURE bar_retention_job(job_id integer, config jsonb)
LANGUAGE plpgsql AS $fn$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT key, value FROM jsonb_each_text(config) LOOP
        PERFORM drop_bar_partitions_before(r.key, now() - r.value::interval);
    END LOOP;
END;
$fn$;

-- Replaces the schema's bar_retention_job by one with `config` (none when it is empty);
-- returns the job's id.
CREATE FUNCTION set_bar_retention(config jsonb) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    j integer;
BEGIN
    FOR j IN SELECT job_id FROM timescaledb_information.jobs
             WHERE proc_schema = current_schema() AND proc_name = 'bar_retention_job' LOOP
        PERFORM delete_job(j);
    END LOOP;
    IF config IS NULL OR config = '{}'::jsonb THEN
        RETURN NULL;
    END IF;
    RETURN add_job(format('%I.bar_retention_job', current_schema())::regproc,
                   interval '1 day', config => config);
END;
$fn$;

DO $do$
BEGIN
    EXECUTE format('ALTER FUNCTION drop_bar_partitions_before(text, timestamptz)'
                   ' SET search_path = %I, pg_temp', current_schema());
    EXECUTE format('ALTER PROCEDURE bar_retention_job(integer, jsonb)'
                   ' SET search_path = %I, pg_temp', current_schema());
END;
$do$;

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
SELECT set_bar_retention(jsonb_build_object('M1', config->>'drop_after'))
FROM ohlcv_0011_policies WHERE proc_name = 'policy_retention';
