-- Codes that are one symbol ('7203' and '72030'): the table's UNIQUE constraint cannot see
-- these, and both would feed the same OHLCV partitions.
SELECT CASE WHEN char_length(code) = 5 AND right(code, 1) = '0' THEN left(code, 4) ELSE code END
           AS symbol,
       array_agg(code ORDER BY code) AS codes
FROM companies
GROUP BY 1
HAVING count(*) > 1
ORDER BY 1
LIMIT 100
