INSERT INTO landing_files (file_key, etag, size_bytes, checksum, vendor, status, processed_at,
                           partitions, rows_total, rows_unassigned, issues, error, run_id)
VALUES (%(file_key)s, %(etag)s, %(size_bytes)s, %(checksum)s, %(vendor)s, %(status)s,
        CASE WHEN %(status)s IN ('processed', 'rejected') THEN now() END,
        %(partitions)s, %(rows_total)s, %(rows_unassigned)s, %(issues)s, %(error)s, %(run_id)s)
ON CONFLICT (file_key, etag) DO UPDATE SET
    status          = EXCLUDED.status,
    processed_at    = EXCLUDED.processed_at,
    checksum        = COALESCE(EXCLUDED.checksum, landing_files.checksum),
    partitions      = CASE WHEN EXCLUDED.rows_total IS NULL THEN landing_files.partitions
                           ELSE EXCLUDED.partitions END,
    rows_total      = COALESCE(EXCLUDED.rows_total, landing_files.rows_total),
    rows_unassigned = COALESCE(EXCLUDED.rows_unassigned, landing_files.rows_unassigned),
    issues          = CASE WHEN EXCLUDED.rows_total IS NULL THEN landing_files.issues
                           ELSE EXCLUDED.issues END,
    error           = EXCLUDED.error,
    run_id          = COALESCE(EXCLUDED.run_id, landing_files.run_id)
RETURNING id, (xmax = 0) AS inserted
