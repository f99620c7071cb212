-- The bars of read/bars_window (same relation, filters, newest-first LIMIT), returned as ONE
-- row: the count, then each column as one bytea of its values' binary send format in
-- chronological order (timestamptz: int64 microseconds since 2000-01-01; float8: IEEE-754,
-- both big-endian). The client turns each bytea into a numpy array with one frombuffer call
-- instead of building 6,000 Python objects for 1,000 bars. The casts are no-ops on the base
-- table and keep the wire types fixed for every relation.
WITH w AS (
    SELECT ts::timestamptz AS ts, open::float8 AS open, high::float8 AS high,
           low::float8 AS low, close::float8 AS close, volume::float8 AS volume
    FROM {relation}
    WHERE symbol = %(symbol)s {timeframe_filter}
      AND ts >= %(start)s AND ts < %(end)s
    ORDER BY ts DESC
    LIMIT %(limit)s
)
SELECT count(*),
       string_agg(timestamptz_send(ts), ''::bytea ORDER BY ts),
       string_agg(float8send(open), ''::bytea ORDER BY ts),
       string_agg(float8send(high), ''::bytea ORDER BY ts),
       string_agg(float8send(low), ''::bytea ORDER BY ts),
       string_agg(float8send(close), ''::bytea ORDER BY ts),
       string_agg(float8send(volume), ''::bytea ORDER BY ts)
FROM w
