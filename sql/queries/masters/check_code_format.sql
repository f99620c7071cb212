-- Codes not shaped as J-Quants gives them: 4 or 5 characters, a digit first, then digits or
-- capital letters.
SELECT code FROM companies
WHERE code !~ '^[0-9][0-9A-Z]{3}[0-9A-Z]?$'
ORDER BY code
LIMIT 100
