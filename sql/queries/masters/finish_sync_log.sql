UPDATE company_sync_log
SET status            = %(status)s,
    finished_at       = now(),
    source_rows       = %(source_rows)s,
    new_count         = %(new)s,
    updated_count     = %(updated)s,
    deactivated_count = %(deactivated)s,
    unchanged_count   = %(unchanged)s,
    quarantined_count = %(quarantined)s,
    reference_date    = %(reference_date)s,
    error             = %(error)s
WHERE id = %(sync_id)s
