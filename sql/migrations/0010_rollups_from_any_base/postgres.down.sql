-- 0010 down, plain PostgreSQL: rollups from M1 bars only again (0002, 0003).

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
    WHERE timeframe = 'M1' AND symbol = ANY (p_symbols) AND ts >= lo AND ts < hi
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


-- Rows rolled up from other intraday bases go: 0002's rollups hold M1 bars only.
DELETE FROM ohlcv_m5 WHERE symbol IN (SELECT symbol FROM ohlcv_bars WHERE timeframe <> 'M1');
DELETE FROM ohlcv_m15 WHERE symbol IN (SELECT symbol FROM ohlcv_bars WHERE timeframe <> 'M1');
DELETE FROM ohlcv_m30 WHERE symbol IN (SELECT symbol FROM ohlcv_bars WHERE timeframe <> 'M1');
DELETE FROM ohlcv_h1 WHERE symbol IN (SELECT symbol FROM ohlcv_bars WHERE timeframe <> 'M1');
DELETE FROM ohlcv_h4 WHERE symbol IN (SELECT symbol FROM ohlcv_bars WHERE timeframe <> 'M1');
DELETE FROM ohlcv_d1 WHERE symbol IN (SELECT symbol FROM ohlcv_bars WHERE timeframe <> 'M1');

-- Refill every rollup from M1 over the bars the database holds (rows outside them are kept).
DO $do$
DECLARE
    syms text[];
    lo timestamptz;
    hi timestamptz;
BEGIN
    SELECT array_agg(DISTINCT symbol), min(ts), max(ts) INTO syms, lo, hi
    FROM ohlcv_bars WHERE timeframe = 'M1';
    IF syms IS NOT NULL THEN
        PERFORM refresh_rollups(syms, lo, hi);
    END IF;
END;
$do$;

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
