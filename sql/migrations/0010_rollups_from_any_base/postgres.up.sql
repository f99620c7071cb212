-- 0010, plain PostgreSQL: rollups from any intraday base. refresh_rollups() reads every
-- intraday timeframe of ohlcv_bars at the M5 level: a coarser base's bar is alone in its
-- finer buckets, so it rides through M5..H1 unchanged (first/last/max/min/sum of one value)
-- and is aggregated from the level it belongs to upward. A symbol has one base timeframe, so
-- no bucket mixes grains. The rollup tables are refilled from the bars held.

DROP VIEW IF EXISTS ohlcv_mn1;
DROP VIEW IF EXISTS ohlcv_w1;
DROP VIEW IF EXISTS ohlcv_daily;

-- SECURITY DEFINER: the writer role (DML only on bars) refreshes rollups it does not own.
CREATE OR REPLACE FUNCTION refresh_rollups(p_symbols text[], p_lo timestamptz, p_hi timestamptz)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER AS $fn$
DECLARE
    origin CONSTANT timestamptz := '2000-01-01 00:00+00';
    lo timestamptz := date_bin('7 days', p_lo, origin);
    hi timestamptz := date_bin('7 days', p_hi, origin) + interval '7 days';
    n  integer;
BEGIN
    DELETE FROM ohlcv_m5 WHERE symbol = ANY (p_symbols) AND ts >= lo AND ts < hi;
    INSERT INTO ohlcv_m5
    SELECT date_bin('5 minutes', ts, origin), symbol, session_date, min(ts),
           (array_agg(open ORDER BY ts))[1], max(high), min(low),
           (array_agg(close ORDER BY ts DESC))[1], sum(volume), count(*)
    FROM ohlcv_bars
    WHERE timeframe IN ('M1', 'M5', 'M15', 'M30', 'H1', 'H4')
      AND symbol = ANY (p_symbols) AND ts >= lo AND ts < hi
    GROUP BY 1, symbol, session_date;
    GET DIAGNOSTICS n = ROW_COUNT;

    DELETE FROM ohlcv_m15 WHERE symbol = ANY (p_symbols) AND ts >= lo AND ts < hi;
    INSERT INTO ohlcv_m15
    SELECT date_bin('15 minutes', ts, origin), symbol, session_date, min(first_ts),
           (array_agg(open ORDER BY ts))[1], max(high), min(low),
           (array_agg(close ORDER BY ts DESC))[1], sum(volume), sum(bar_count)
    FROM ohlcv_m5 WHERE symbol = ANY (p_symbols) AND ts >= lo AND ts < hi
    GROUP BY 1, symbol, session_date;

    DELETE FROM ohlcv_m30 WHERE symbol = ANY (p_symbols) AND ts >= lo AND ts < hi;
    INSERT INTO ohlcv_m30
    SELECT date_bin('30 minutes', ts, origin), symbol, session_date, min(first_ts),
           (array_agg(open ORDER BY ts))[1], max(high), min(low),
           (array_agg(close ORDER BY ts DESC))[1], sum(volume), sum(bar_count)
    FROM ohlcv_m15 WHERE symbol = ANY (p_symbols) AND ts >= lo AND ts < hi
    GROUP BY 1, symbol, session_date;

    DELETE FROM ohlcv_h1 WHERE symbol = ANY (p_symbols) AND ts >= lo AND ts < hi;
    INSERT INTO ohlcv_h1
    SELECT date_bin('1 hour', ts, origin), symbol, session_date, min(first_ts),
           (array_agg(open ORDER BY ts))[1], max(high), min(low),
           (array_agg(close ORDER BY ts DESC))[1], sum(volume), sum(bar_count)
    FROM ohlcv_m30 WHERE symbol = ANY (p_symbols) AND ts >= lo AND ts < hi
    GROUP BY 1, symbol, session_date;

    DELETE FROM ohlcv_h4 WHERE symbol = ANY (p_symbols) AND ts >= lo AND ts < hi;
    INSERT INTO ohlcv_h4
    SELECT date_bin('4 hours', ts, origin), symbol, min(first_ts),
           (array_agg(open ORDER BY ts))[1], max(high), min(low),
           (array_agg(close ORDER BY ts DESC))[1], sum(volume), sum(bar_count)
    FROM ohlcv_h1 WHERE symbol = ANY (p_symbols) AND ts >= lo AND ts < hi
    GROUP BY 1, symbol;

    DELETE FROM ohlcv_d1 WHERE symbol = ANY (p_symbols) AND week >= lo AND week < hi;
    INSERT INTO ohlcv_d1
    SELECT date_bin('7 days', ts, origin), symbol, session_date, min(first_ts),
           (array_agg(open ORDER BY ts))[1], max(high), min(low),
           (array_agg(close ORDER BY ts DESC))[1], sum(volume), sum(bar_count)
    FROM ohlcv_h1 WHERE symbol = ANY (p_symbols) AND ts >= lo AND ts < hi
    GROUP BY 1, symbol, session_date;
    RETURN n;
END;
$fn$;

DO $do$
BEGIN
    EXECUTE format('ALTER FUNCTION refresh_rollups(text[], timestamptz, timestamptz)'
                   ' SET search_path = %I, pg_temp', current_schema());
END;
$do$;

-- Refill every rollup over the bars the database holds (rows outside them are kept).
DO $do$
DECLARE
    syms text[];
    lo timestamptz;
    hi timestamptz;
BEGIN
    SELECT array_agg(DISTINCT symbol), min(ts), max(ts) INTO syms, lo, hi
    FROM ohlcv_bars WHERE timeframe IN ('M1', 'M5', 'M15', 'M30', 'H1', 'H4');
    IF syms IS NOT NULL THEN
        PERFORM refresh_rollups(syms, lo, hi);
    END IF;
END;
$do$;

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
