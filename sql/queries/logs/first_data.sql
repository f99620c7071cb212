-- Each symbol's earliest session that raw_bars ever stored bars for (any run, any family):
-- a session before it that the source answers empty is before the symbol's first data, a
-- skip rather than a gap (market_assets/ohlcv/collect.py). Index data_collection_log_symbol_date.
SELECT symbol, min(session_date)
FROM data_collection_log
WHERE symbol = ANY(%(symbols)s::text[]) AND asset = %(asset)s AND rows_written > 0
GROUP BY symbol
