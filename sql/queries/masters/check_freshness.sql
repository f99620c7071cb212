-- The last successful sync, and how long ago it finished.
SELECT id, finished_at, extract(epoch FROM now() - finished_at) / 3600.0 AS age_hours
FROM company_sync_log
WHERE status = 'success'
ORDER BY finished_at DESC
LIMIT 1
