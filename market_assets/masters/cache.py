"""Master reads through Redis: a company for 1 h, company lists 30 min, code tables 24 h.

Read-through: a miss reads the database and stores the answer with its TTL. A sync deletes
exactly the keys its changes touch (computed from the rows before and after), after its
transaction commits: deleting earlier would let a reader cache the old row again before the
new one is visible. Redis is only a cache: when it is down, reads go to the database and a
failed invalidation is reported (the TTLs bound how long a stale answer can live).

Company rows are cached without market and sector names; `show_company` joins them from the
cached code tables, so renaming a sector invalidates one key, not every company in it.
Free-text search results are not cached: no sync could tell exactly which of them changed.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import psycopg

from market_assets.masters.code_tables import CODE_TABLES
from market_assets.masters.sync import CompanyChange
from resources.cache_keys import company_key, company_list_key, master_table_key
from resources.errors import StoreUnavailableError
from resources.postgres import PostgresResource
from resources.queries import query
from resources.redis import RedisResource

log = logging.getLogger(__name__)

COMPANY_TTL_S = 3600
COMPANY_LIST_TTL_S = 1800
CODE_TABLE_TTL_S = 86400

ALL_LIST = "ALL"
ACTIVE_LIST = "ACTIVE"


def list_name(
    *,
    active_only: bool = True,
    market_code: str | None = None,
    sector17_code: str | None = None,
    sector33_code: str | None = None,
) -> str:
    """The cache name of a company list: ALL, ACTIVE, or the active companies of one market
    or sector (MARKET_0111, SECTOR17_6, SECTOR33_3700)."""
    filters = [
        (p, c)
        for p, c in (
            ("MARKET", market_code),
            ("SECTOR17", sector17_code),
            ("SECTOR33", sector33_code),
        )
        if c is not None
    ]
    if len(filters) > 1:
        raise ValueError("filter company lists by one of market, sector17 or sector33")
    if filters:
        if not active_only:
            raise ValueError("market and sector lists hold active companies only")
        prefix, code = filters[0]
        return f"{prefix}_{code}"
    return ACTIVE_LIST if active_only else ALL_LIST


def _jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: (v.isoformat() if isinstance(v, dt.date | dt.datetime) else v) for k, v in row.items()
    }


def _rows(cur: psycopg.Cursor[Any]) -> list[dict[str, Any]]:
    names = [d.name for d in cur.description or []]
    return [_jsonable(dict(zip(names, r, strict=True))) for r in cur.fetchall()]


def _cached(redis: RedisResource | None, key: str) -> Any | None:
    if redis is None:
        return None
    try:
        return redis.get_json(key)
    except StoreUnavailableError as exc:
        log.warning("master cache read skipped: %s", exc)
        return None


def _store(redis: RedisResource | None, key: str, value: Any, ttl_s: int) -> None:
    if redis is None:
        return
    try:
        redis.put_json(key, value, ttl_s)
    except StoreUnavailableError as exc:
        log.warning("master cache write skipped: %s", exc)


def _prefix(redis: RedisResource | None) -> str:
    return redis.key_prefix if redis is not None else ""


def get_company(
    postgres: PostgresResource, redis: RedisResource | None, code: str
) -> dict[str, Any] | None:
    """One company row by its J-Quants code (None if unknown; misses are not cached)."""
    key = company_key(code, _prefix(redis))
    hit = _cached(redis, key)
    if hit is not None:
        return hit
    with postgres.connection() as conn:
        rows = _rows(conn.execute(query("masters/select_company"), {"code": code}))
        conn.rollback()
    if not rows:
        return None
    _store(redis, key, rows[0], COMPANY_TTL_S)
    return rows[0]


def get_company_list(
    postgres: PostgresResource,
    redis: RedisResource | None,
    *,
    active_only: bool = True,
    market_code: str | None = None,
    sector17_code: str | None = None,
    sector33_code: str | None = None,
) -> list[dict[str, Any]]:
    """A company list (see `list_name`), ordered by code."""
    name = list_name(
        active_only=active_only,
        market_code=market_code,
        sector17_code=sector17_code,
        sector33_code=sector33_code,
    )
    key = company_list_key(name, _prefix(redis))
    hit = _cached(redis, key)
    if hit is not None:
        return hit
    params = {
        "active_only": active_only,
        "market_code": market_code,
        "sector17_code": sector17_code,
        "sector33_code": sector33_code,
    }
    with postgres.connection() as conn:
        rows = _rows(conn.execute(query("masters/select_companies"), params))
        conn.rollback()
    _store(redis, key, rows, COMPANY_LIST_TTL_S)
    return rows


def get_code_table(
    postgres: PostgresResource, redis: RedisResource | None, table: str
) -> list[dict[str, Any]]:
    """A code table (markets, sector17, sector33) as [{code, name_ja, name_en}]."""
    if table not in CODE_TABLES:
        raise ValueError(f"unknown code table {table!r}; expected one of {CODE_TABLES}")
    key = master_table_key(table, _prefix(redis))
    hit = _cached(redis, key)
    if hit is not None:
        return hit
    with postgres.connection() as conn:
        rows = _rows(conn.execute(query(f"masters/select_{table}")))
        conn.rollback()
    _store(redis, key, rows, CODE_TABLE_TTL_S)
    return rows


# -- invalidation --------------------------------------------------------------------------
def _lists_of(row: Mapping[str, Any] | None) -> set[str]:
    """The list names a row appears in (ALL always; the others only while active)."""
    if row is None:
        return set()
    names = {ALL_LIST}
    if row.get("is_active"):
        names.add(ACTIVE_LIST)
        for prefix, column in (
            ("MARKET", "market_code"),
            ("SECTOR17", "sector17_code"),
            ("SECTOR33", "sector33_code"),
        ):
            if row.get(column):
                names.add(f"{prefix}_{row[column]}")
    return names


def keys_for_changes(
    changes: Iterable[CompanyChange], tables: Iterable[str] = (), prefix: str = ""
) -> list[str]:
    """Exactly the keys whose cached value the changes alter: each changed company, every
    list it was or now is in, and each changed code table."""
    keys: set[str] = set()
    for change in changes:
        keys.add(company_key(change.code, prefix))
        for name in _lists_of(change.before) | _lists_of(change.after):
            keys.add(company_list_key(name, prefix))
    keys.update(master_table_key(t, prefix) for t in tables)
    return sorted(keys)


def invalidate(
    redis: RedisResource, changes: Iterable[CompanyChange] = (), tables: Iterable[str] = ()
) -> list[str]:
    """Delete the keys `keys_for_changes` names; returns them (for asset metadata)."""
    keys = keys_for_changes(changes, tables, redis.key_prefix)
    redis.delete(*keys)
    return keys
