-- The threshold of pg_trgm's strict word-similarity operator, for this transaction only.
SELECT set_config('pg_trgm.strict_word_similarity_threshold', %s::text, true)
