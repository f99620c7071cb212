-- Serialise rollup refreshes of the same symbols until commit. refresh_rollups() deletes a
-- window and inserts it again: two refreshes of one symbol at once would both delete nothing
-- of the other's uncommitted rows and then collide on the rollup's primary key. Locks are taken
-- in one sorted order (no deadlock between overlapping sets); the 'rollups|' prefix keeps them
-- apart from the partition locks of the bar loads.
SELECT count(pg_advisory_xact_lock(k))
FROM (
    SELECT DISTINCT hashtextextended('rollups|' || s, 0) AS k
    FROM unnest(%(symbols)s::text[]) AS s
    ORDER BY k
) AS keys
