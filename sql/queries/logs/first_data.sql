-- Each symbol's earliest session that raw_bars ever stored bars for (any run, any family):
-- a session before it that the source answers empty is before the symbol's first data, a
-- skip rather than a gap (market_assets/ohlcv/collect.py). One index walk per symbol on
-- data_collection_log_symbol_date, stopping at its first row with bars, rather than a
-- min() over every row the log holds for the symbol.
SELECT s.symbol, f.session_date
FROM unnest(%(symbols)s::text[]) AS s(symbol)
CROSS JOIN LATERAL (
    SELECT l.session_date
    FROM data_collection_log l
    WHERE l.symbol = s.symbol AND l.asset = %(asset)s AND l.rows_written > 0
    ORDER BY l.session_date
    LIMIT 1
) AS f
