"""`market-assets db`: bootstrap, upgrade, downgrade, history."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from market_assets.composition import MissingSettingError
from market_assets.core import settings as s
from market_assets.db import bootstrap, migrate

app = typer.Typer(help="Database roles, schema and versioned migrations.", no_args_is_help=True)
console = Console()

SchemaOpt = Annotated[str | None, typer.Option(help="Schema (default MARKET_ASSETS_PG_SCHEMA).")]
DialectOpt = Annotated[
    str | None, typer.Option(help="timescale or postgres (default: detected from the server).")
]


def _schema(schema: str | None) -> str:
    return schema or s.StoreSettings.from_env().pg_schema


def _required(name: str) -> str:
    value = s.env(name)
    if not value:
        raise MissingSettingError(f"{name} is not set (see README, 'Configuration')")
    return value


@app.command("bootstrap")
def bootstrap_cmd(schema: SchemaOpt = None) -> None:
    """Create roles, extensions and the schema (needs MARKET_ASSETS_PG_ADMIN_URL).

    Role passwords are taken from the role URLs (MARKET_ASSETS_PG_OWNER_URL, _URL, _READER_URL,
    DAGSTER_PG_URL), so each secret is configured once.
    """
    from urllib.parse import unquote, urlsplit

    admin = _required(s.PG_ADMIN_URL)

    def password(var: str) -> str:
        return unquote(urlsplit(_required(var)).password or "")

    run_bootstrap(
        admin,
        _schema(schema),
        bootstrap.RolePasswords(
            owner=password(s.PG_OWNER_URL),
            writer=password(s.PG_URL),
            reader=password(s.PG_READER_URL),
            dagster=password(s.DAGSTER_PG_URL) if os.environ.get(s.DAGSTER_PG_URL) else "",
        ),
    )


def run_bootstrap(admin_url: str, schema: str, passwords: bootstrap.RolePasswords) -> list[str]:
    bootstrap.ensure_roles(admin_url, passwords)
    extensions = bootstrap.ensure_extensions(admin_url)
    bootstrap.ensure_schema(admin_url, schema)
    console.print(f"[green]bootstrapped[/] schema {schema}; extensions: {', '.join(extensions)}")
    return extensions


@app.command("upgrade")
def upgrade_cmd(
    target: Annotated[str, typer.Argument(help="Revision to reach.")] = "head",
    schema: SchemaOpt = None,
    dialect: DialectOpt = None,
) -> None:
    """Apply migrations (as the owner role, MARKET_ASSETS_PG_OWNER_URL)."""
    used = migrate.upgrade(_required(s.PG_OWNER_URL), _schema(schema), target, dialect)
    console.print(f"[green]upgraded[/] {_schema(schema)} to {target} ({used} dialect)")


@app.command("downgrade")
def downgrade_cmd(
    target: Annotated[str, typer.Argument(help="Revision to return to, or -1, or base.")] = "-1",
    schema: SchemaOpt = None,
    dialect: DialectOpt = None,
) -> None:
    """Revert migrations down to `target`."""
    used = migrate.downgrade(_required(s.PG_OWNER_URL), _schema(schema), target, dialect)
    console.print(f"[yellow]downgraded[/] {_schema(schema)} to {target} ({used} dialect)")


@app.command("history")
def history_cmd(schema: SchemaOpt = None) -> None:
    """Every migration, oldest first, and whether it is applied."""
    table = Table("revision", "applied", "description")
    for step in migrate.history(_required(s.PG_OWNER_URL), _schema(schema)):
        table.add_row(step.revision, "yes" if step.applied else "no", step.doc.splitlines()[0])
    console.print(table)


@app.command("policies")
def policies_cmd(schema: SchemaOpt = None) -> None:
    """Apply compression and retention per timeframe as configured (MARKET_ASSETS_RETENTION_<TF>
    for M1..MN1, _COMPRESS_AFTER): TimescaleDB policies and jobs; on plain PostgreSQL, drop
    each configured timeframe's partitions past its retention. Prints what was set."""
    import psycopg

    from market_assets.db.policies import PolicySettings, apply_policies, enforce_retention
    from resources.postgres import conninfo_for

    owner = _required(s.PG_OWNER_URL)
    dialect = migrate.detect_dialect(owner)
    policy = PolicySettings.from_env()
    with psycopg.connect(conninfo_for(owner), autocommit=True) as conn:
        conn.execute("SELECT set_config('search_path', %s, false)", (f"{_schema(schema)}, public",))
        for line in apply_policies(conn, dialect, policy):
            console.print(line)
        dropped = enforce_retention(conn, dialect, policy)
    if dialect != "timescale":
        console.print(f"dropped {dropped} partitions past retention")
