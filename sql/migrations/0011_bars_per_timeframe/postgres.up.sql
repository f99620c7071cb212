-- 0011, plain PostgreSQL: ohlcv_bars LIST-partitioned by timeframe, so retention drops one
-- timeframe's partitions and never another's. Each timeframe's partition is RANGE-partitioned
-- by ts: monthly for M1..H4 (a month of M1 bars for a hundred symbols is a few million rows),
-- yearly for D1, W1 and MN1 (27 years of daily bars are 27 partitions, not 324). The parent
-- keeps its name, columns and primary key, so the loads, reads and rollups are unchanged.
-- Every row is moved (count and checksum checked by tests/integration/test_migrations.py).

DROP VIEW IF EXISTS ohlcv_mn1;
DROP VIEW IF EXISTS ohlcv_w1;
DROP VIEW IF EXISTS ohlcv_daily;
DROP FUNCTION IF EXISTS drop_bar_partitions_before(timestamptz);
DROP FUNCTION IF EXISTS ensure_bar_partitions(timestamptz, timestamptz);

ALTER TABLE ohlcv_bars RENAME TO ohlcv_bars_0010;
ALTER TABLE ohlcv_bars_0010 RENAME CONSTRAINT ohlcv_bars_pkey TO ohlcv_bars_0010_pkey;

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
) PARTITION BY LIST (timeframe);

DO $do$
DECLARE
    tf text;
BEGIN
    FOREACH tf IN ARRAY ARRAY['M1', 'M5', 'M15', 'M30', 'H1', 'H4', 'D1', 'W1', 'MN1'] LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF ohlcv_bars FOR VALUES IN (%L)'
                       ' PARTITION BY RANGE (ts)', 'ohlcv_bars_' || lower(tf), tf);
    END LOOP;
END;
$do$;

-- The range partitions of `timeframes` covering [lo, hi): months for intraday timeframes,
-- years for D1 and coarser. SECURITY DEFINER so that the writer role (DML only) can reach an
-- older month during a backfill without holding DDL rights itself.
CREATE FUNCTION ensure_bar_partitions(lo timestamptz, hi timestamptz, timeframes text[])
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER AS $fn$
DECLARE
    tf          text;
    step        interval;
    grain       text;
    start_at    timestamptz;
    created     integer := 0;
    part_name   text;
    schema_name text := (SELECT n.nspname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                         WHERE p.oid = 'ensure_bar_partitions(timestamptz, timestamptz, text[])'::regprocedure);
BEGIN
    IF hi - lo > interval '100 years' THEN
        RAISE EXCEPTION 'refusing to create partitions over % (from % to %)', hi - lo, lo, hi;
    END IF;
    FOREACH tf IN ARRAY timeframes LOOP
        IF tf NOT IN ('M1', 'M5', 'M15', 'M30', 'H1', 'H4', 'D1', 'W1', 'MN1') THEN
            RAISE EXCEPTION 'unknown timeframe %', tf;
        END IF;
        IF tf IN ('D1', 'W1', 'MN1') THEN
            step := interval '1 year';  grain := 'year';
        ELSE
            step := interval '1 month'; grain := 'month';
        END IF;
        start_at := date_trunc(grain, lo AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
        WHILE start_at < hi LOOP
            part_name := 'ohlcv_bars_' || lower(tf) || '_p'
                || to_char(start_at AT TIME ZONE 'UTC', CASE grain WHEN 'year' THEN 'YYYY' ELSE 'YYYYMM' END);
            IF to_regclass(format('%I.%I', schema_name, part_name)) IS NULL THEN
                EXECUTE format(
                    'CREATE TABLE %I.%I PARTITION OF %I.%I FOR VALUES FROM (%L) TO (%L)',
                    schema_name, part_name, schema_name, 'ohlcv_bars_' || lower(tf),
                    start_at, start_at + step);
                created := created + 1;
            END IF;
            start_at := start_at + step;
        END LOOP;
    END LOOP;
    RETURN created;
END;
$fn$;

-- Every timeframe (the partitions ahead below; callers that load name their timeframes).
CREATE FUNCTION ensure_bar_partitions(lo timestamptz, hi timestamptz) RETURNS integer
LANGUAGE sql AS $fn$
    SELECT ensure_bar_partitions(lo, hi, ARRAY['M1', 'M5', 'M15', 'M30', 'H1', 'H4', 'D1', 'W1', 'MN1'])
$fn$;

-- Drops `timeframe`'s range partitions that end before `older_than`: retention without
-- DELETE, and no other timeframe's bars go with them.
CREATE FUNCTION drop_bar_partitions_before(timeframe text, older_than timestamptz)
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
    r       record;
    dropped integer := 0;
    parent  regclass := to_regclass('ohlcv_bars_' || lower(timeframe));
BEGIN
    IF parent IS NULL OR timeframe NOT IN ('M1', 'M5', 'M15', 'M30', 'H1', 'H4', 'D1', 'W1', 'MN1') THEN
        RAISE EXCEPTION 'unknown timeframe %', timeframe;
    END IF;
    FOR r IN
        SELECT c.oid::regclass AS part,
               (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz AS upper_bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = parent
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
    EXECUTE format('ALTER FUNCTION ensure_bar_partitions(timestamptz, timestamptz, text[])'
                   ' SET search_path = %I, pg_temp', current_schema());
END;
$do$;

-- Move every row: partitions over each timeframe's span first.
DO $do$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT timeframe, min(ts) AS lo, max(ts) AS hi FROM ohlcv_bars_0010 GROUP BY timeframe LOOP
        PERFORM ensure_bar_partitions(r.lo, r.hi + interval '1 minute', ARRAY[r.timeframe]);
    END LOOP;
END;
$do$;
INSERT INTO ohlcv_bars SELECT * FROM ohlcv_bars_0010;
DROP TABLE ohlcv_bars_0010;

-- Partitions ahead for the timeframes loaded every day: the previous month to three from now.
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
