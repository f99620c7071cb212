-- Companies the source no longer lists: inactive, never deleted (their bars stay).
UPDATE companies
SET is_active = false, updated_at = now()
WHERE code = ANY(%(codes)s::text[]) AND is_active
