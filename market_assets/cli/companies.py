"""`market-assets companies search TEXT` and `market-assets companies show CODE`.

Thin wrappers over market_assets.masters.search (the same functions notebooks call), with
the reader role's database and, when configured, the Redis cache.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from market_assets.composition import MissingSettingError, postgres_resource, redis_resource
from market_assets.masters.search import CompanyLookupError, search_companies, show_company
from resources.errors import StoreUnavailableError
from resources.redis import RedisResource

app = typer.Typer(
    help="Search and show companies of the company master.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console()


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]{message}[/]")
    return typer.Exit(1)


def _optional_redis() -> RedisResource | None:
    try:
        return redis_resource(live=True)
    except MissingSettingError:
        return None  # no cache configured: read the database directly


@app.command("search")
def search(
    text: str = typer.Argument(..., help="Part of a Japanese or English name, or a code."),
    limit: int = typer.Option(20, "--limit", "-n", min=1, max=200),
) -> None:
    """Companies matching TEXT, best first."""
    postgres = None
    try:
        postgres = postgres_resource("reader", live=True)
        rows = search_companies(text, limit, postgres=postgres)
    except (CompanyLookupError, MissingSettingError, StoreUnavailableError) as exc:
        raise _fail(str(exc)) from None
    finally:
        if postgres is not None:
            postgres.close()
    if not rows:
        console.print(f"no company matches {text!r}")
        raise typer.Exit(1)
    table = Table("code", "symbol", "name", "English name", "market", "active", "score")
    for r in rows:
        table.add_row(
            r["code"],
            r["symbol"],
            r["company_name"],
            r["company_name_english"] or "",
            r["market_code"] or "",
            "yes" if r["is_active"] else "[yellow]no[/]",
            f"{r['score']:.3f}",
        )
    console.print(table)


_SHOWN: list[tuple[str, str]] = [
    ("code", "code (J-Quants)"),
    ("symbol", "symbol"),
    ("company_name", "name"),
    ("company_name_english", "English name"),
    ("market", "market"),
    ("sector17", "sector (17)"),
    ("sector33", "sector (33)"),
    ("scale_category", "scale category"),
    ("margin_code", "margin code"),
    ("is_active", "active"),
    ("reference_date", "reference date"),
    ("updated_at", "updated"),
]


def _value(company: dict[str, Any], key: str) -> str:
    if key in ("market", "sector17", "sector33"):
        code = company.get(f"{key}_code")
        ja, en = company.get(f"{key}_name_ja"), company.get(f"{key}_name_en")
        return f"{code}  {ja} / {en}" if ja else str(code or "")
    value = company.get(key)
    if isinstance(value, bool):
        return "yes" if value else "[yellow]no (inactive)[/]"
    return "" if value is None else str(value)


@app.command("show")
def show(code: str = typer.Argument(..., help="'7203' or J-Quants' '72030'.")) -> None:
    """One company with its market and sector names."""
    postgres = None
    redis = _optional_redis()
    try:
        postgres = postgres_resource("reader", live=True)
        company = show_company(code, postgres=postgres, redis=redis)
    except (CompanyLookupError, MissingSettingError, StoreUnavailableError) as exc:
        raise _fail(str(exc)) from None
    finally:
        if postgres is not None:
            postgres.close()
        if redis is not None:
            redis.close()
    if company is None:
        raise _fail(f"no company with code {code!r}")
    table = Table("field", "value", show_header=False)
    for key, label in _SHOWN:
        table.add_row(label, _value(company, key))
    console.print(table)
