-- Serialise writers of the same (symbol, timeframe, session_date) partitions until commit.
-- Locks are taken in one sorted order, so two writers over overlapping sets cannot deadlock
-- on them; a hash collision only makes two unrelated partitions wait for each other.
SELECT count(pg_advisory_xact_lock(k))
FROM (
    SELECT DISTINCT
        hashtextextended(p.symbol || '|' || p.timeframe || '|' || p.session_date::text, 0) AS k
    FROM unnest(%(symbols)s::text[], %(timeframes)s::text[], %(dates)s::date[])
        AS p(symbol, timeframe, session_date)
    ORDER BY k
) AS keys
