SELECT code, name_ja, name_en FROM markets ORDER BY code
