-- 0011 down, plain PostgreSQL: back to one monthly RANGE partitioning of every timeframe
-- (0001's layout and functions), every row moved.

DROP VIEW IF EXISTS ohlcv_mn1;
DROP VIEW IF EXISTS ohlcv_w1;
DROP VIEW IF EXISTS ohlcv_daily;
DROP FUNCTION IF EXISTS drop_bar_partitions_before(text, timestamptz);
DROP FUNCTION IF EXISTS ensure_bar_partitions(timestamptz, timestamptz);
DROP FUNCTION IF EXISTS ensure_bar_partitions(timestamptz, timestamptz, text[]);

ALTER TABLE ohlcv_bars RENAME TO ohlcv_bars_0011;
ALTER TABLE ohlcv_bars_0011 RENAME CONSTRAINT ohlcv_bars_pkey TO ohlcv_bars_0011_pkey;

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
) PARTITION BY RANGE (ts);

-- Creates the monthly partitions covering [lo, hi). SECURITY DEFINER so that the writer role
-- (DML only) can reach an older month during a backfill without holding DDL rights itself.
CREATE FUNCTION ensure_bar_partitions(lo timestamptz, hi timestamptz) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER AS $fn$
DECLARE
    month_start timestamptz := date_trunc('month', lo AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    created     integer := 0;
    part_name   text;
    schema_name text := (SELECT n.nspname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                         WHERE p.oid = 'ensure_bar_partitions(timestamptz, timestamptz)'::regprocedure);
BEGIN
    IF hi - lo > interval '100 years' THEN
        RAISE EXCEPTION 'refusing to create partitions over % (from % to %)', hi - lo, lo, hi;
    END IF;
    WHILE month_start < hi LOOP
        part_name := 'ohlcv_bars_p' || to_char(month_start AT TIME ZONE 'UTC', 'YYYYMM');
        IF to_regclass(format('%I.%I', schema_name, part_name)) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I.%I PARTITION OF %I.ohlcv_bars FOR VALUES FROM (%L) TO (%L)',
                schema_name, part_name, schema_name,
                month_start, month_start + interval '1 month');
            created := created + 1;
        END IF;
        month_start := month_start + interval '1 month';
    END LOOP;
    RETURN created;
END;
$fn$;

-- Drops whole monthly partitions that end before `older_than`: retention without DELETE.
CREATE FUNCTION drop_bar_partitions_before(older_than timestamptz) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    r       record;
    dropped integer := 0;
BEGIN
    FOR r IN
        SELECT c.oid::regclass AS part,
               (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz AS upper_bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'ohlcv_bars'::regclass
    LOOP
        IF r.upper_bound <= older_than THEN
            EXECUTE format('DROP TABLE %s', r.part);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    RETURN dropped;
END;
$fn$;

DO $do$
BEGIN
    EXECUTE format('ALTER FUNCTION ensure_bar_partitions(timestamptz, timestamptz) SET search_path = %I, pg_temp',
                   current_schema());
END;
$do$;

-- Partitions ahead: the previous month to three months from now.
DO $do$
DECLARE
    lo timestamptz;
    hi timestamptz;
BEGIN
    SELECT min(ts), max(ts) INTO lo, hi FROM ohlcv_bars_0011;
    IF lo IS NOT NULL THEN
        PERFORM ensure_bar_partitions(lo, hi + interval '1 minute');
    END IF;
END;
$do$;
INSERT INTO ohlcv_bars SELECT * FROM ohlcv_bars_0011;
DROP TABLE ohlcv_bars_0011;
SELECT ensure_bar_partitions(now() - interval '1 month', now() + interval '3 months');

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
