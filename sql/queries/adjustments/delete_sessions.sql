-- Forget the events of the sessions being replaced; the batch's own events are inserted next.
DELETE FROM adjustment_events e
USING unnest(%(symbols)s::text[], %(days)s::date[]) AS p(symbol, session_date)
WHERE e.symbol = p.symbol AND e.session_date = p.session_date
