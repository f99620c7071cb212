SELECT 'markets' AS code_table, code FROM markets
UNION ALL
SELECT 'sector17', code FROM sector17
UNION ALL
SELECT 'sector33', code FROM sector33
