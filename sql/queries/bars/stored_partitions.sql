-- Which of the batch's (symbol, timeframe, session_date) partitions already hold rows: one
-- indexed probe each (ohlcv_bars_session). Partitions not returned are empty, and their
-- staged rows can be inserted without ON CONFLICT and without looking for rows to delete.
SELECT p.symbol, p.timeframe, p.session_date
FROM unnest(%(symbols)s::text[], %(timeframes)s::text[], %(dates)s::date[])
    AS p(symbol, timeframe, session_date)
WHERE EXISTS (
    SELECT 1 FROM ohlcv_bars b
    WHERE b.symbol = p.symbol AND b.session_date = p.session_date
      AND b.timeframe = p.timeframe
)
