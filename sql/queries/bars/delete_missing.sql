-- Rows of the batch's partitions that the source no longer has: re-materialising a partition
-- leaves exactly the source's rows. Partitions are (symbol, timeframe, session_date) arrays with
-- the ts window [lo, hi) that encloses each one's bars (found through the primary key).
WITH parts AS (
    SELECT * FROM unnest(%(symbols)s::text[], %(timeframes)s::text[], %(dates)s::date[],
                         %(lo)s::timestamptz[], %(hi)s::timestamptz[])
        AS p(symbol, timeframe, session_date, lo, hi)
), gone AS (
    DELETE FROM ohlcv_bars b
    USING parts p
    WHERE b.symbol = p.symbol AND b.timeframe = p.timeframe
      AND b.ts >= p.lo AND b.ts < p.hi
      AND b.session_date = p.session_date
      AND NOT EXISTS (
          SELECT 1 FROM stage_bars s
          WHERE s.symbol = b.symbol AND s.timeframe = b.timeframe AND s.ts = b.ts
      )
    RETURNING b.symbol, b.session_date
)
SELECT symbol, session_date, count(*) FROM gone GROUP BY symbol, session_date
