SELECT code FROM companies WHERE is_active ORDER BY code
