-- The ledger's file versions, newest first; `status` NULL lists every status.
SELECT file_key, etag, vendor, status, rows_total, rows_unassigned, error, first_seen,
       processed_at
FROM landing_files
WHERE %(status)s::text IS NULL OR status = %(status)s::text
ORDER BY first_seen DESC, id DESC
LIMIT %(limit)s
