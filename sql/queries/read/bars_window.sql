-- Bars of one symbol and timeframe from {relation} (an allow-listed identifier), newest first,
-- within [start, end) and at most `limit` rows. Callers reverse to chronological order.
SELECT ts, open, high, low, close, volume
FROM {relation}
WHERE symbol = %(symbol)s {timeframe_filter}
  AND ts >= %(start)s AND ts < %(end)s
ORDER BY ts DESC
LIMIT %(limit)s
