-- The sector33 code table: new codes inserted, renamed ones updated, unchanged ones untouched;
-- returns the codes that changed. Codes missing from the file are kept (companies refer to
-- them).
INSERT INTO sector33 (code, name_ja, name_en)
SELECT code, name_ja, name_en
FROM unnest(%(code)s::text[], %(name_ja)s::text[], %(name_en)s::text[]) AS v(code, name_ja, name_en)
ON CONFLICT (code) DO UPDATE
SET name_ja = EXCLUDED.name_ja, name_en = EXCLUDED.name_en, updated_at = now()
WHERE (sector33.name_ja, sector33.name_en) IS DISTINCT FROM (EXCLUDED.name_ja, EXCLUDED.name_en)
RETURNING code, (xmax = 0) AS inserted
