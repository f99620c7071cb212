-- 0002_rollups, plain PostgreSQL: M5..D1 as rollup tables with the same columns and the same
-- arithmetic as the TimescaleDB continuous aggregates (hierarchical: each level from the one
-- below, same bucket origin 2000-01-01 00:00 UTC, a Saturday), so both dialects give identical
-- values. refresh_rollups() recomputes whole origin-aligned weeks for the given symbols.

CREATE TABLE ohlcv_m5 (
    ts timestamptz NOT NULL, symbol text NOT NULL, session_date date NOT NULL,
    first_ts timestamptz NOT NULL, open float8 NOT NULL, high float8 NOT NULL,
    low float8 NOT NULL, close float8 NOT NULL, volume float8 NOT NULL, bar_count bigint NOT NULL,
    PRIMARY KEY (symbol, ts)
);
CREATE TABLE ohlcv_m15 (LIKE ohlcv_m5 INCLUDING ALL);
CREATE TABLE ohlcv_m30 (LIKE ohlcv_m5 INCLUDING ALL);
CREATE TABLE ohlcv_h1 (LIKE ohlcv_m5 INCLUDING ALL);
CREATE TABLE ohlcv_h4 (
    ts timestamptz NOT NULL, symbol text NOT NULL,
    first_ts timestamptz NOT NULL, open float8 NOT NULL, high float8 NOT NULL,
    low float8 NOT NULL, close float8 NOT NULL, volume float8 NOT NULL, bar_count bigint NOT NULL,
    PRIMARY KEY (symbol, ts)
);
CREATE TABLE ohlcv_d1 (
    week timestamptz NOT NULL, symbol text NOT NULL, session_date date NOT NULL,
    ts timestamptz NOT NULL, open float8 NOT NULL, high float8 NOT NULL,
    low float8 NOT NULL, close float8 NOT NULL, volume float8 NOT NULL, bar_count bigint NOT NULL,
    PRIMARY KEY (symbol, session_date)
);

-- SECURITY DEFINER: the writer role (DML only on bars) refreshes rollups it does not own.
CREATE FUNCTION refresh_rollups(p_symbols text[], p_lo timestamptz, p_hi timestamptz)
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
