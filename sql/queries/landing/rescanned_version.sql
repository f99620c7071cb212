-- A version scanned again with the current vendor mappings: its figures replace the old ones.
UPDATE landing_files SET
    status          = %(status)s,
    processed_at    = now(),
    checksum        = %(checksum)s,
    vendor          = %(vendor)s,
    partitions      = %(partitions)s,
    rows_total      = %(rows_total)s,
    rows_unassigned = %(rows_unassigned)s,
    issues          = %(issues)s,
    error           = NULL
WHERE id = %(id)s
