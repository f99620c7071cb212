-- One version's ledger row, locked for the rest of the transaction (a retry decides from it
-- whether the version's unassignable rows have been quarantined: rows_unassigned is set only
-- by a successful scan, and the first successful record of a version quarantines them).
SELECT id, status, error, rows_unassigned
FROM landing_files
WHERE file_key = %(file_key)s AND etag = %(etag)s
FOR UPDATE
