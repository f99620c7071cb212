-- New, changed and reactivated companies in one statement (arrays: one round trip, and no
-- COPY, which the PGlite server lacks).
INSERT INTO companies (code, company_name, company_name_english, sector17_code, sector33_code,
                       market_code, scale_category, margin_code, reference_date, is_active)
SELECT code, company_name, company_name_english, sector17_code, sector33_code,
       market_code, scale_category, margin_code, reference_date, true
FROM unnest(%(code)s::text[], %(company_name)s::text[], %(company_name_english)s::text[],
            %(sector17_code)s::text[], %(sector33_code)s::text[], %(market_code)s::text[],
            %(scale_category)s::text[], %(margin_code)s::text[], %(reference_date)s::date[])
     AS v(code, company_name, company_name_english, sector17_code, sector33_code,
          market_code, scale_category, margin_code, reference_date)
ON CONFLICT (code) DO UPDATE
SET company_name         = EXCLUDED.company_name,
    company_name_english = EXCLUDED.company_name_english,
    sector17_code        = EXCLUDED.sector17_code,
    sector33_code        = EXCLUDED.sector33_code,
    market_code          = EXCLUDED.market_code,
    scale_category       = EXCLUDED.scale_category,
    margin_code          = EXCLUDED.margin_code,
    reference_date       = EXCLUDED.reference_date,
    is_active            = true,
    updated_at           = now()
