-- The stored bars of a set of (symbol, session_date) partitions, for reconciliation checks.
SELECT b.symbol, b.timeframe, b.ts, b.session_date, b.open, b.high, b.low, b.close, b.volume,
       b.adj_factor, b.source
FROM ohlcv_bars b
JOIN unnest(%(symbols)s::text[], %(dates)s::date[]) AS p(symbol, session_date)
  ON b.symbol = p.symbol AND b.session_date = p.session_date
ORDER BY b.symbol, b.timeframe, b.ts
