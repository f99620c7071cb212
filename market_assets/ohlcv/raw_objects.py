"""Which raw-bar objects exist in S3, found by listing rather than probing each one."""

from __future__ import annotations

from resources.s3 import S3Resource


def existing_keys(s3: S3Resource, keys: set[str]) -> list[str]:
    """The objects among `keys` that exist, one LIST per session date rather than a HEAD each."""
    prefixes = {k.rsplit("/symbol=", 1)[0] + "/" for k in keys}
    found = {o.key for o in s3.list_many(sorted(prefixes))}
    return sorted(keys & found)
