-- Companies whose market or sector code is missing or not in its code table.
SELECT c.code,
       c.market_code,
       c.sector17_code,
       c.sector33_code,
       (m.code IS NULL) AS bad_market,
       (s17.code IS NULL) AS bad_sector17,
       (s33.code IS NULL) AS bad_sector33
FROM companies AS c
LEFT JOIN markets AS m ON m.code = c.market_code
LEFT JOIN sector17 AS s17 ON s17.code = c.sector17_code
LEFT JOIN sector33 AS s33 ON s33.code = c.sector33_code
WHERE m.code IS NULL OR s17.code IS NULL OR s33.code IS NULL
ORDER BY c.code
LIMIT 100
