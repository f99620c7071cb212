-- H1 hours of a set of (symbol, session_date) partitions that differ from the flat aggregate of
-- their M1 bars, one row per hour: 'missing' (M1 bars, no H1 bar), 'orphan' (an H1 bar without
-- M1 bars) or 'differs'. Same bucket origin as the rollups (2000-01-01 00:00 UTC). Volume is a
-- float sum taken in another order by the hierarchy (M5 -> M15 -> M30 -> H1), so it is compared
-- with a relative tolerance; prices and counts must be equal. [lo, hi) is the ts window enclosing
-- each partition's M1 bars (market_assets.partition_window).
WITH p AS (
    SELECT * FROM unnest(%(symbols)s::text[], %(dates)s::date[], %(lo)s::timestamptz[],
                         %(hi)s::timestamptz[]) AS p(symbol, session_date, lo, hi)
), flat AS (
    SELECT date_bin('1 hour', b.ts, TIMESTAMPTZ '2000-01-01 00:00+00') AS ts,
           b.symbol, b.session_date, min(b.ts) AS first_ts,
           (array_agg(b.open ORDER BY b.ts))[1] AS open, max(b.high) AS high, min(b.low) AS low,
           (array_agg(b.close ORDER BY b.ts DESC))[1] AS close, sum(b.volume) AS volume,
           count(*) AS bar_count
    FROM ohlcv_bars b
    JOIN p ON b.symbol = p.symbol AND b.ts >= p.lo AND b.ts < p.hi
          AND b.session_date = p.session_date
    WHERE b.timeframe = 'M1'
    GROUP BY 1, b.symbol, b.session_date
), stored AS (
    SELECT h.ts, h.symbol, h.session_date, h.first_ts, h.open, h.high, h.low, h.close,
           h.volume, h.bar_count
    FROM ohlcv_h1 h
    JOIN p ON h.symbol = p.symbol AND h.session_date = p.session_date
)
SELECT coalesce(f.symbol, s.symbol) AS symbol,
       coalesce(f.session_date, s.session_date) AS session_date,
       coalesce(f.ts, s.ts) AS ts,
       CASE WHEN s.ts IS NULL THEN 'missing' WHEN f.ts IS NULL THEN 'orphan' ELSE 'differs' END
FROM flat f
FULL JOIN stored s
  ON s.symbol = f.symbol AND s.session_date = f.session_date AND s.ts = f.ts
WHERE s.ts IS NULL OR f.ts IS NULL
   OR (f.first_ts, f.open, f.high, f.low, f.close, f.bar_count)
      IS DISTINCT FROM (s.first_ts, s.open, s.high, s.low, s.close, s.bar_count::bigint)
   OR abs(f.volume - s.volume) > 1e-9 * greatest(1.0, abs(f.volume))
ORDER BY 1, 2, 3
