-- A sync announces itself before fetching, in its own transaction, so that a failure at any
-- point (the source, a bad page, the database) leaves a 'failed' row behind.
INSERT INTO company_sync_log (run_id, source, status)
VALUES (%(run_id)s, %(source)s, 'running')
RETURNING id
