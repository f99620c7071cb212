-- One company sync at a time per schema; released when the transaction ends.
SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.company_sync'))
