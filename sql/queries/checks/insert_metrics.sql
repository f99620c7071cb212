-- Every evaluation of one batch (one row per check and partition) in one statement.
INSERT INTO data_quality_metrics (run_id, asset, partition_key, check_name, passed, severity, figures)
SELECT * FROM unnest(
    %(run_id)s::text[], %(asset)s::text[], %(partition_key)s::text[], %(check_name)s::text[],
    %(passed)s::boolean[], %(severity)s::text[], %(figures)s::jsonb[]
)
