-- 0003: W1 and MN1 as views over D1 (at most one row per session, so grouping on read is
-- cheap and always consistent), and the S3 object's checksum and size beside each collection
-- (an existing table gains columns; its rows are kept).

CREATE VIEW ohlcv_w1 AS
SELECT symbol,
       (session_date - (extract(isodow FROM session_date)::int - 1))::date AS week_start,
       min(ts)                                AS ts,
       (array_agg(open ORDER BY ts))[1]       AS open,
       max(high)                              AS high,
       min(low)                               AS low,
       (array_agg(close ORDER BY ts DESC))[1] AS close,
       sum(volume)                            AS volume,
       sum(bar_count)::bigint                 AS bar_count,
       count(*)                               AS sessions
FROM ohlcv_d1
GROUP BY symbol, 2;

CREATE VIEW ohlcv_mn1 AS
SELECT symbol,
       date_trunc('month', session_date)::date AS month_start,
       min(ts)                                AS ts,
       (array_agg(open ORDER BY ts))[1]       AS open,
       max(high)                              AS high,
       min(low)                               AS low,
       (array_agg(close ORDER BY ts DESC))[1] AS close,
       sum(volume)                            AS volume,
       sum(bar_count)::bigint                 AS bar_count,
       count(*)                               AS sessions
FROM ohlcv_d1
GROUP BY symbol, 2;

ALTER TABLE data_collection_log ADD COLUMN checksum text, ADD COLUMN bytes bigint;
