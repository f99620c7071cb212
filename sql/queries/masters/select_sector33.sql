SELECT code, name_ja, name_en FROM sector33 ORDER BY code
