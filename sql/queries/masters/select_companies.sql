-- A company list: all, active only, or the active companies of one market or sector.
SELECT code, company_name, company_name_english, sector17_code, sector33_code, market_code,
       scale_category, margin_code, reference_date, is_active, created_at, updated_at
FROM companies
WHERE (NOT %(active_only)s OR is_active)
  AND (%(market_code)s::text IS NULL OR market_code = %(market_code)s)
  AND (%(sector17_code)s::text IS NULL OR sector17_code = %(sector17_code)s)
  AND (%(sector33_code)s::text IS NULL OR sector33_code = %(sector33_code)s)
ORDER BY code
