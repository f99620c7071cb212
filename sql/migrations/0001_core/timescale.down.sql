DROP FUNCTION IF EXISTS ensure_bar_partitions(timestamptz, timestamptz);
DROP TABLE IF EXISTS ohlcv_bars;
