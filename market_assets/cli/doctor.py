"""`market-assets doctor`: can every configured store be reached, and what can it do."""

from __future__ import annotations

import os
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from market_assets.composition import Role, postgres_resource, redis_resource, s3_resource
from market_assets.core import settings as s
from resources.errors import StoreUnavailableError

console = Console()


def _postgres_role() -> Role:
    """The role to check: the pipeline's writer when configured, else the reader (a reading
    terminal, e.g. one that found a running dev stack), else the owner."""
    candidates: tuple[tuple[Role, str], ...] = (
        ("writer", s.PG_URL),
        ("reader", s.PG_READER_URL),
        ("owner", s.PG_OWNER_URL),
    )
    for role, variable in candidates:
        if os.environ.get(variable):
            return role
    return "writer"  # none set: the error names the pipeline's variable


def doctor() -> None:
    """Check PostgreSQL, Redis and S3 as configured in the environment; exit 1 if one is down."""
    table = Table("store", "address", "status", "details")
    failed = False
    role = _postgres_role()
    for name, factory in (
        (f"PostgreSQL ({role})", lambda: postgres_resource(role, live=True)),
        ("Redis", lambda: redis_resource(live=True)),
        ("S3", lambda: s3_resource(live=True)),
    ):
        try:
            resource: Any = factory()
            info = resource.health()
            details = ", ".join(
                f"{k}={v}" for k, v in info.items() if k not in ("store", "address")
            )
            table.add_row(name, info["address"], "[green]up[/]", details)
        except (StoreUnavailableError, RuntimeError) as exc:
            failed = True
            table.add_row(name, getattr(exc, "address", "-"), "[red]down[/]", str(exc))
        finally:
            if "resource" in locals() and hasattr(resource, "close"):
                resource.close()
    console.print(table)
    if failed:
        raise typer.Exit(1)
