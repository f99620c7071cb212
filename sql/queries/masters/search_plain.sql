-- Company search without pg_trgm: the same tiers as search_trgm.sql (code, whole name,
-- prefix, substring), ranked within a tier by the share of the name the text covers.
WITH hits AS (
    SELECT c.code, c.company_name, c.company_name_english, c.market_code, c.sector33_code,
           c.is_active,
           CASE
               WHEN c.code = %(code)s OR left(c.code, 4) = %(code)s THEN 4
               WHEN lower(c.company_name) = lower(%(text)s)
                    OR lower(c.company_name_english) = lower(%(text_en)s) THEN 3
               WHEN c.company_name ILIKE %(prefix)s
                    OR c.company_name_english ILIKE %(prefix_en)s THEN 2
               ELSE 1
           END AS tier,
           GREATEST(
               CASE WHEN c.company_name ILIKE %(contains)s
                    THEN char_length(%(text)s)::float8 / char_length(c.company_name) ELSE 0 END,
               CASE WHEN c.company_name_english ILIKE %(contains_en)s
                    THEN char_length(%(text_en)s)::float8 / char_length(c.company_name_english)
                    ELSE 0 END
           ) AS coverage
    FROM companies AS c
    WHERE c.code = %(code)s
       OR left(c.code, 4) = %(code)s
       OR c.company_name ILIKE %(contains)s
       OR c.company_name_english ILIKE %(contains_en)s
)
SELECT code, company_name, company_name_english, market_code, sector33_code, is_active,
       round((tier + coverage)::numeric, 3)::float8 AS score
FROM hits
ORDER BY score DESC, is_active DESC, code
LIMIT %(limit)s
