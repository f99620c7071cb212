-- Company search over codes and Japanese and English names, best first (pg_trgm present).
-- tier: 4 the code, 3 a whole name, 2 a name starting with the text, 1 a name containing
-- it, 0 a name with a word similar to it. Within tiers 1-4 the share of the name the text
-- covers ranks ('Mitsubishi Corporation' before 'Mitsubishi UFJ Financial Group'); in tier 0
-- the trigram similarity to the closest whole word, which forgives typos ('toyta'). With a
-- C ctype, Japanese text has no trigrams, so Japanese ranking rests on tiers 1-4 alone.
WITH hits AS (
    SELECT c.code, c.company_name, c.company_name_english, c.market_code, c.sector33_code,
           c.is_active,
           CASE
               WHEN c.code = %(code)s OR left(c.code, 4) = %(code)s THEN 4
               WHEN lower(c.company_name) = lower(%(text)s)
                    OR lower(c.company_name_english) = lower(%(text_en)s) THEN 3
               WHEN c.company_name ILIKE %(prefix)s
                    OR c.company_name_english ILIKE %(prefix_en)s THEN 2
               WHEN c.company_name ILIKE %(contains)s
                    OR c.company_name_english ILIKE %(contains_en)s THEN 1
               ELSE 0
           END AS tier,
           GREATEST(
               strict_word_similarity(%(text)s, c.company_name),
               strict_word_similarity(%(text_en)s, coalesce(c.company_name_english, ''))
           ) AS likeness,
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
       OR %(text)s <<%% c.company_name
       OR %(text_en)s <<%% c.company_name_english
)
SELECT code, company_name, company_name_english, market_code, sector33_code, is_active,
       round((tier + CASE WHEN tier = 0 THEN likeness ELSE coverage END)::numeric, 3)::float8
           AS score
FROM hits
ORDER BY score DESC, is_active DESC, code
LIMIT %(limit)s
