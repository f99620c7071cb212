INSERT INTO company_changes (sync_id, code, change, before, after)
SELECT %(sync_id)s, code, change, before, after
FROM unnest(%(code)s::text[], %(change)s::text[], %(before)s::jsonb[], %(after)s::jsonb[])
     AS v(code, change, before, after)
