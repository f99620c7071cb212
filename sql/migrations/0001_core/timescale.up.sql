-- 0001_core, TimescaleDB: bars in a hypertable.
-- Chunks of 7 days: a week of M1 bars for a hundred symbols is about 700k rows, so recent
-- chunks stay in memory while old ones compress well (segmented by symbol and timeframe).

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

SELECT create_hypertable('ohlcv_bars', 'ts', chunk_time_interval => interval '7 days');

ALTER TABLE ohlcv_bars SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'symbol, timeframe',
    timescaledb.compress_orderby = 'ts DESC'
);

-- Same names as the plain dialect, so maintenance code does not branch on the dialect.
CREATE FUNCTION ensure_bar_partitions(lo timestamptz, hi timestamptz) RETURNS integer
LANGUAGE sql AS $fn$ SELECT 0 $fn$;
