"""Finding companies: `search_companies` (ranked, Japanese or English) and `show_company`.

Search runs in the database because ranking needs every name at hand: with pg_trgm the names
have GIN trigram indexes and similarity forgives English typos; without it the same tiers
(code, whole name, prefix, substring) rank by ILIKE alone. The query text is normalised to
NFKC for English and codes (full-width 'ＡＮＡ' finds 'ANA Holdings') and kept as typed for
Japanese names, which J-Quants spells with full-width letters.

Both functions take resources, or build the reader's from the environment when given none
(the CLI and notebooks), so there is one code path for both.
"""

from __future__ import annotations

import contextlib
import unicodedata
from collections.abc import Iterator
from typing import Any

from market_assets.core.identifiers import InvalidIdentifierError, describe
from market_assets.core.universe import jquants_code_for_symbol, symbol_for_jquants_code
from market_assets.masters.cache import get_code_table, get_company
from market_assets.masters.records import CODE_RE
from resources.postgres import PostgresResource
from resources.queries import query
from resources.redis import RedisResource

MAX_QUERY_CHARS = 100
MAX_LIMIT = 200
# pg_trgm's default (0.5) misses a dropped letter in a short word: 'Toyta' ~ 'Toyota' is
# 0.44, while 'Toyta' ~ 'Toyobo' is 0.3.
WORD_SIMILARITY = 0.4
# Code table -> the company column that refers to it.
_TABLE_COLUMNS = {
    "markets": "market_code",
    "sector17": "sector17_code",
    "sector33": "sector33_code",
}


class CompanyLookupError(ValueError):
    """The search text or code is not acceptable (the message is safe to show)."""


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_params(text: str, limit: int) -> dict[str, Any]:
    """Bind parameters of the search statements (public for tests)."""
    if not isinstance(text, str) or not text.strip():
        raise CompanyLookupError("search text must not be empty")
    raw = " ".join(text.split())
    if len(raw) > MAX_QUERY_CHARS:
        raise CompanyLookupError(f"search text is longer than {MAX_QUERY_CHARS} characters")
    if not 1 <= limit <= MAX_LIMIT:
        raise CompanyLookupError(f"limit must be between 1 and {MAX_LIMIT}")
    en = unicodedata.normalize("NFKC", raw)
    return {
        "text": raw,
        "text_en": en,
        "code": en.upper(),
        "prefix": _escape_like(raw) + "%",
        "prefix_en": _escape_like(en) + "%",
        "contains": "%" + _escape_like(raw) + "%",
        "contains_en": "%" + _escape_like(en) + "%",
        "limit": limit,
    }


@contextlib.contextmanager
def _reader(postgres: PostgresResource | None) -> Iterator[PostgresResource]:
    if postgres is not None:
        yield postgres
        return
    from market_assets.composition import postgres_resource

    owned = postgres_resource("reader", live=True)
    try:
        yield owned
    finally:
        owned.close()


def has_trigram(postgres: PostgresResource) -> bool:
    with postgres.connection() as conn:
        row = conn.execute(query("masters/has_trigram")).fetchone()
        conn.rollback()
    return bool(row and row[0])


def search_companies(
    text: str,
    limit: int = 20,
    *,
    postgres: PostgresResource | None = None,
    method: str = "auto",
) -> list[dict[str, Any]]:
    """Companies whose code or Japanese / English name matches `text`, best first.

    Each result has code, symbol, company_name, company_name_english, market_code,
    sector33_code, is_active and score (tier 0-4 for similar / contains / prefix / whole
    name / code, plus closeness 0-1). `method` is auto, trigram or plain.
    """
    if method not in ("auto", "trigram", "plain"):
        raise CompanyLookupError("method must be auto, trigram or plain")
    params = search_params(text, limit)
    with _reader(postgres) as pg:
        trigram = has_trigram(pg) if method == "auto" else method == "trigram"
        with pg.connection() as conn:
            if trigram:
                conn.execute(query("masters/set_word_similarity"), (WORD_SIMILARITY,))
            cur = conn.execute(query(f"masters/search_{'trgm' if trigram else 'plain'}"), params)
            names = [d.name for d in cur.description or []]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
            conn.rollback()
    for row in rows:
        row["symbol"] = symbol_for_jquants_code(row["code"])
    return rows


def normalise_code(code: str) -> str:
    """A code as the master stores it: '7203' -> '72030'; J-Quants codes unchanged."""
    if not isinstance(code, str):
        raise CompanyLookupError(f"not a company code: {describe(code)}")
    c = unicodedata.normalize("NFKC", code).strip().upper()
    if not CODE_RE.fullmatch(c):
        raise CompanyLookupError(
            f"not a company code: {describe(code)} (use '7203' or J-Quants' '72030')"
        )
    try:
        return jquants_code_for_symbol(c) if len(c) == 4 else c
    except InvalidIdentifierError:
        raise CompanyLookupError(f"not a company code: {describe(code)}") from None


def show_company(
    code: str,
    *,
    postgres: PostgresResource | None = None,
    redis: RedisResource | None = None,
) -> dict[str, Any] | None:
    """One company with its market and sector names (Japanese and English), or None.

    Reads go through the Redis cache when `redis` is given.
    """
    jq_code = normalise_code(code)
    with _reader(postgres) as pg:
        company = get_company(pg, redis, jq_code)
        if company is None and len(jq_code) == 5 and jq_code.endswith("0"):
            company = get_company(pg, redis, jq_code[:4])  # a source that gave 4 characters
        if company is None:
            return None
        names = {t: {r["code"]: r for r in get_code_table(pg, redis, t)} for t in _TABLE_COLUMNS}
    shown = {**company, "symbol": symbol_for_jquants_code(company["code"])}
    for table, column in _TABLE_COLUMNS.items():
        entry = names[table].get(company.get(column) or "")
        prefix = column.removesuffix("_code")
        shown[f"{prefix}_name_ja"] = entry["name_ja"] if entry else None
        shown[f"{prefix}_name_en"] = entry["name_en"] if entry else None
    return shown
