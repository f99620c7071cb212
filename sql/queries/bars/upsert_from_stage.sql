-- Upsert the staged rows; a row whose values did not change is not rewritten (no dead tuple,
-- no ingested_at bump). Returns per partition how many rows were new and how many revised.
-- `before` reads the snapshot taken before the INSERT (CTEs share one snapshot), which tells
-- new rows from revised ones portably (xmax is not readable on partitioned tables).
WITH before AS (
    SELECT s.symbol, s.timeframe, s.ts
    FROM stage_bars s
    JOIN ohlcv_bars o ON o.symbol = s.symbol AND o.timeframe = s.timeframe AND o.ts = s.ts
), up AS (
    INSERT INTO ohlcv_bars AS b (
        symbol, timeframe, ts, session_date, open, high, low, close, volume, adj_factor, source
    )
    SELECT symbol, timeframe, ts, session_date, open, high, low, close, volume, adj_factor, source
    FROM stage_bars
    ON CONFLICT (symbol, timeframe, ts) DO UPDATE SET
        session_date = EXCLUDED.session_date,
        open = EXCLUDED.open,
        high = EXCLUDED.high,
        low = EXCLUDED.low,
        close = EXCLUDED.close,
        volume = EXCLUDED.volume,
        adj_factor = EXCLUDED.adj_factor,
        source = EXCLUDED.source,
        ingested_at = now()
    WHERE (b.session_date, b.open, b.high, b.low, b.close, b.volume, b.adj_factor, b.source)
          IS DISTINCT FROM
          (EXCLUDED.session_date, EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close,
           EXCLUDED.volume, EXCLUDED.adj_factor, EXCLUDED.source)
    RETURNING b.symbol, b.timeframe, b.ts, b.session_date
)
SELECT up.symbol, up.session_date,
       count(*) FILTER (WHERE before.ts IS NULL) AS inserted,
       count(*) FILTER (WHERE before.ts IS NOT NULL) AS revised
FROM up LEFT JOIN before USING (symbol, timeframe, ts)
GROUP BY up.symbol, up.session_date
