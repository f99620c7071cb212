-- The checks whose latest evaluation of a partition failed, for the given partition keys
-- (`date|symbol`): a check that failed and later passed no longer marks its session.
SELECT partition_key, asset, check_name, severity
FROM (
    SELECT DISTINCT ON (asset, check_name, partition_key)
           partition_key, asset, check_name, severity, passed
    FROM data_quality_metrics
    WHERE partition_key = ANY(%(keys)s::text[])
    ORDER BY asset, check_name, partition_key, evaluated_at DESC, id DESC
) AS latest
WHERE NOT passed
ORDER BY partition_key, asset, check_name
