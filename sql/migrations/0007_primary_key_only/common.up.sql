-- 0007: ohlcv_bars keeps one index, its primary key (symbol, timeframe, ts).
-- The (symbol, session_date) index cost about a third of the bulk-load speed (every row adds a
-- tuple and a WAL record to it). A partition's bars are found instead through the primary key,
-- as a ts window around the session plus the session_date filter (market_assets.partition_window).
DROP INDEX IF EXISTS ohlcv_bars_session;
