SELECT coalesce(max(id), 0) FROM company_changes
