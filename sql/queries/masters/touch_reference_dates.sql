-- Unchanged companies: only the date the source last listed them moves (updated_at stays).
UPDATE companies AS c
SET reference_date = v.reference_date
FROM unnest(%(code)s::text[], %(reference_date)s::date[]) AS v(code, reference_date)
WHERE c.code = v.code
  AND c.reference_date IS DISTINCT FROM v.reference_date
