SELECT code, company_name, company_name_english, sector17_code, sector33_code, market_code,
       scale_category, margin_code, reference_date, is_active
FROM companies
