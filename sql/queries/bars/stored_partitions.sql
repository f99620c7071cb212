-- Which of the batch's (symbol, timeframe, session_date) partitions already hold rows: one
-- probe each on the primary key, within the ts window [lo, hi) that encloses the session's bars
-- (market_assets.partition_window). Partitions not returned are empty, and their rows can be
-- inserted without ON CONFLICT and without looking for rows to delete.
SELECT p.symbol, p.timeframe, p.session_date
FROM unnest(%(symbols)s::text[], %(timeframes)s::text[], %(dates)s::date[],
            %(lo)s::timestamptz[], %(hi)s::timestamptz[])
    AS p(symbol, timeframe, session_date, lo, hi)
WHERE EXISTS (
    SELECT 1 FROM ohlcv_bars b
    WHERE b.symbol = p.symbol AND b.timeframe = p.timeframe
      AND b.ts >= p.lo AND b.ts < p.hi
      AND b.session_date = p.session_date
)
