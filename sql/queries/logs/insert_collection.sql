INSERT INTO data_collection_log (
    run_id, asset, partition_key, symbol, session_date, source, status,
    rows_in, rows_written, rows_quarantined, rows_revised, rows_deleted, error,
    object_checksum, started_at, finished_at
) VALUES (
    %(run_id)s, %(asset)s, %(partition_key)s, %(symbol)s, %(session_date)s, %(source)s, %(status)s,
    %(rows_in)s, %(rows_written)s, %(rows_quarantined)s, %(rows_revised)s, %(rows_deleted)s, %(error)s,
    %(object_checksum)s, %(started_at)s, now()
)
