-- D1 rollup rows that differ from a flat aggregate of their M1 bars ([lo, hi): the ts window
-- enclosing each partition's bars, market_assets.partition_window).
WITH flat AS (
    SELECT b.symbol, b.session_date, min(ts) AS ts,
           (array_agg(open ORDER BY ts))[1] AS open, max(high) AS high, min(low) AS low,
           (array_agg(close ORDER BY ts DESC))[1] AS close, sum(volume) AS volume
    FROM ohlcv_bars b
    JOIN unnest(%(symbols)s::text[], %(dates)s::date[], %(lo)s::timestamptz[],
                %(hi)s::timestamptz[]) AS p(symbol, session_date, lo, hi)
      ON b.symbol = p.symbol AND b.ts >= p.lo AND b.ts < p.hi
     AND b.session_date = p.session_date
    WHERE b.timeframe = 'M1'
    GROUP BY b.symbol, b.session_date
)
SELECT f.symbol, f.session_date,
       d.ts IS NULL AS missing,
       (f.ts, f.open, f.high, f.low, f.close, f.volume)
         IS DISTINCT FROM (d.ts, d.open, d.high, d.low, d.close, d.volume) AS differs
FROM flat f
LEFT JOIN ohlcv_d1 d ON d.symbol = f.symbol AND d.session_date = f.session_date
WHERE d.ts IS NULL
   OR (f.ts, f.open, f.high, f.low, f.close, f.volume)
      IS DISTINCT FROM (d.ts, d.open, d.high, d.low, d.close, d.volume)
