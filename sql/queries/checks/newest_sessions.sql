-- The newest session in the database of each symbol, among bars since a point in time (so the
-- scan stays inside the last few chunks or monthly partitions).
SELECT symbol, max(session_date) AS newest
FROM ohlcv_bars
WHERE symbol = ANY (%(symbols)s::text[]) AND ts >= %(since)s
GROUP BY symbol
