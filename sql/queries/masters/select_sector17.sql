SELECT code, name_ja, name_en FROM sector17 ORDER BY code
