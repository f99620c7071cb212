DROP FUNCTION IF EXISTS drop_bar_partitions_before(timestamptz);
DROP FUNCTION IF EXISTS ensure_bar_partitions(timestamptz, timestamptz);
DROP TABLE IF EXISTS ohlcv_bars;
