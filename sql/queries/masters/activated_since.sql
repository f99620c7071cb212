-- Companies that became listed (new) or active again (reactivated) after a change id, and are
-- still active: the new-symbol sensor requests their recent history.
SELECT c.id, c.code
FROM company_changes c
JOIN companies co ON co.code = c.code
WHERE c.id > %(after_id)s
  AND c.change IN ('new', 'reactivated')
  AND co.is_active
ORDER BY c.id
