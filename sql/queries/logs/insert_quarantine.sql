INSERT INTO quarantine (run_id, asset, partition_key, symbol, session_date, source_ref, rule, reason, row_data)
VALUES (%(run_id)s, %(asset)s, %(partition_key)s, %(symbol)s, %(session_date)s, %(source_ref)s,
        %(rule)s, %(reason)s, %(row_data)s)
