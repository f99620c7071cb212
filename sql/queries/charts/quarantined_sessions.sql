-- Sessions of one symbol with quarantined rows, between two session dates (inclusive).
SELECT session_date, count(*) AS row_count, array_agg(DISTINCT rule ORDER BY rule) AS rules
FROM quarantine
WHERE symbol = %(symbol)s AND session_date BETWEEN %(first)s AND %(last)s
GROUP BY session_date
ORDER BY session_date
