-- Serialise writers of the same (symbol, timeframe, session_date) partitions until commit.
-- One lock per symbol, timeframe and calendar year of the sessions, not per session: a run
-- over a year of 200 daily symbols holds 200 locks, where one per session (46,000) overflowed
-- PostgreSQL's shared lock table ("out of shared memory", max_locks_per_transaction 64 x
-- max_connections). Every writer uses this same key, so two writers of one partition always
-- meet on its lock; writers of different sessions of one symbol-year also wait for each other,
-- which is cheap (a load is one transaction) and what a year object's writers need anyway.
-- Locks are taken in one sorted order, so two writers over overlapping sets cannot deadlock
-- on them; a hash collision only makes two unrelated keys wait for each other.
SELECT count(pg_advisory_xact_lock(k))
FROM (
    SELECT DISTINCT
        hashtextextended(
            p.symbol || '|' || p.timeframe || '|' || extract(year FROM p.session_date)::text, 0
        ) AS k
    FROM unnest(%(symbols)s::text[], %(timeframes)s::text[], %(dates)s::date[])
        AS p(symbol, timeframe, session_date)
    ORDER BY k
) AS keys
