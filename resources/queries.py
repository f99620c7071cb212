"""Named SQL statements kept as files under sql/queries.

SQL lives in sql/ so that it is reviewed as SQL; Python only loads it and binds parameters.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

QUERIES_DIR = Path(__file__).resolve().parents[1] / "sql" / "queries"


@cache
def query(name: str) -> str:
    """The text of sql/queries/<name>.sql (name may contain one '/')."""
    path = (QUERIES_DIR / f"{name}.sql").resolve()
    if QUERIES_DIR not in path.parents:
        raise ValueError(f"query name escapes sql/queries: {name!r}")
    return path.read_text(encoding="utf-8")
