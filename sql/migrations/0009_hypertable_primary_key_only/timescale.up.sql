-- 0009: on TimescaleDB, ohlcv_bars keeps its primary key only, as 0007 meant for both dialects.
-- create_hypertable() in 0001 also built TimescaleDB's default index (ts DESC); every query of
-- the project names the symbol, so the primary key (symbol, timeframe, ts) serves it, and the
-- extra index cost a tuple and a WAL record per loaded row. Dropping it on the hypertable drops
-- it on every chunk.
DROP INDEX IF EXISTS ohlcv_bars_ts_idx;
