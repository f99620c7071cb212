-- A version scanned again and still malformed: the new reason replaces the old one.
UPDATE landing_files SET status = 'rejected', processed_at = now(), error = %(error)s
WHERE id = %(id)s
