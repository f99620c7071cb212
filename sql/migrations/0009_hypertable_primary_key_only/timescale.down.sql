CREATE INDEX IF NOT EXISTS ohlcv_bars_ts_idx ON ohlcv_bars (ts DESC);
