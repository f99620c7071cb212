CREATE INDEX IF NOT EXISTS ohlcv_bars_session ON ohlcv_bars (symbol, session_date);
