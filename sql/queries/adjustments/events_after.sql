-- The events that adjust a range: every event of the symbol after the range's first session.
SELECT session_date, factor
FROM adjustment_events
WHERE symbol = %(symbol)s AND session_date > %(after)s
ORDER BY session_date
