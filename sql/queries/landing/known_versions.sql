SELECT file_key, etag FROM landing_files WHERE file_key = ANY(%(keys)s)
