-- The stored bars of a set of (symbol, session_date) partitions, for reconciliation checks;
-- [lo, hi) is the ts window enclosing each partition's bars (market_assets.partition_window).
SELECT b.symbol, b.timeframe, b.ts, b.session_date, b.open, b.high, b.low, b.close, b.volume,
       b.adj_factor, b.source
FROM ohlcv_bars b
JOIN unnest(%(symbols)s::text[], %(dates)s::date[], %(lo)s::timestamptz[], %(hi)s::timestamptz[])
    AS p(symbol, session_date, lo, hi)
  ON b.symbol = p.symbol AND b.ts >= p.lo AND b.ts < p.hi AND b.session_date = p.session_date
ORDER BY b.symbol, b.timeframe, b.ts
