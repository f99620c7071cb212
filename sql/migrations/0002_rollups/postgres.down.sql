DROP FUNCTION IF EXISTS refresh_rollups(text[], timestamptz, timestamptz);
DROP TABLE IF EXISTS ohlcv_d1, ohlcv_h4, ohlcv_h1, ohlcv_m30, ohlcv_m15, ohlcv_m5;
