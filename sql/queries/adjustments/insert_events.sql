INSERT INTO adjustment_events (symbol, session_date, factor, source)
SELECT * FROM unnest(%(symbols)s::text[], %(days)s::date[], %(factors)s::float8[], %(sources)s::text[])
ON CONFLICT (symbol, session_date) DO UPDATE
SET factor = EXCLUDED.factor, source = EXCLUDED.source, recorded_at = now()
