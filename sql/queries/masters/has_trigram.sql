-- pg_trgm reachable from this connection (its functions on the search path)?
SELECT to_regprocedure('strict_word_similarity(text,text)') IS NOT NULL
