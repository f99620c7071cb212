INSERT INTO data_quality_metrics (run_id, asset, partition_key, check_name, passed, severity, figures)
VALUES (%(run_id)s, %(asset)s, %(partition_key)s, %(check_name)s, %(passed)s, %(severity)s, %(figures)s)
