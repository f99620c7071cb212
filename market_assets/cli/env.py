"""`market-assets env`: the stores as `export` lines for psql, aws, redis-cli and scripts.

`eval "$(market-assets env)"` in a second terminal gives other tools the stores this command
line would use: the variables already set, or those of the dev stack running on the state
folder. The database role is the reader unless `--owner` is given: a shell that can drop
tables should be asked for, not handed out. Values are shell-quoted; the secrets are printed
on purpose (this is their only output), so the heading goes to stderr and nothing is logged.
"""

from __future__ import annotations

import os
import shlex
from typing import Annotated
from urllib.parse import unquote, urlsplit

import typer

from market_assets.composition import MissingSettingError
from market_assets.core import settings as s


def _postgres_lines(url: str) -> list[tuple[str, str]]:
    """libpq's variables for one role URL (psql, pg_dump), and the URL itself."""
    parts = urlsplit(url.replace("postgresql+psycopg2://", "postgresql://", 1))
    pairs = [
        ("PGHOST", parts.hostname or "localhost"),
        ("PGPORT", str(parts.port or 5432)),
        ("PGUSER", unquote(parts.username or "")),
        ("PGPASSWORD", unquote(parts.password or "")),
        ("PGDATABASE", unquote(parts.path.lstrip("/")) or "postgres"),
    ]
    schema = s.StoreSettings.from_env().pg_schema
    pairs.append(("PGOPTIONS", f"-c search_path={schema},public"))
    pairs.append(("DATABASE_URL", url))
    return [(name, value) for name, value in pairs if value]


def export_lines(environ: dict[str, str], *, owner: bool = False) -> list[str]:
    """`export NAME=value` lines from ``environ``: the chosen role, Redis, S3."""
    role_var = s.PG_OWNER_URL if owner else s.PG_READER_URL
    url = environ.get(role_var)
    if not url:
        raise MissingSettingError(
            f"{role_var} is not set and no dev stack runs on {s.state_dir()} "
            "(start `market-assets dev`, or set MARKET_ASSETS_HOME)"
        )
    pairs = _postgres_lines(url)
    if environ.get(s.REDIS_URL):
        pairs.append(("REDIS_URL", environ[s.REDIS_URL]))
    for name in (s.S3_ACCESS_KEY, s.S3_SECRET_KEY, s.S3_REGION):
        if environ.get(name):
            pairs.append((name, environ[name]))
    if environ.get(s.S3_ENDPOINT):
        pairs.append(("AWS_ENDPOINT_URL", environ[s.S3_ENDPOINT]))
    own = (role_var, s.PG_SCHEMA, s.REDIS_URL, s.REDIS_PREFIX, s.S3_ENDPOINT, s.S3_PREFIX)
    pairs += [(name, environ[name]) for name in own if environ.get(name)]
    pairs.append((s.S3_BUCKET, environ.get(s.S3_BUCKET) or s.StoreSettings.from_env().s3_bucket))
    if environ.get(s.HOME):
        pairs.append((s.HOME, environ[s.HOME]))
    return [f"export {name}={shlex.quote(value)}" for name, value in pairs]


def env(
    ctx: typer.Context,
    owner: Annotated[
        bool, typer.Option("--owner", help="The owner role (may change the schema), not reader.")
    ] = False,
) -> None:
    """Print `export` lines for psql, aws, redis-cli and the MARKET_ASSETS_* variables:
    `eval "$(market-assets env)"`. Reader role unless --owner."""
    from market_assets.devstack.discovery import running_stack_environment

    environ = dict(os.environ)
    stack_found = bool(getattr(ctx.obj, "stack_found", False))
    if owner and stack_found:
        found = running_stack_environment(s.state_dir(), "owner") or {}
        environ[s.PG_OWNER_URL] = found.get(s.PG_OWNER_URL, "")
    if stack_found:
        environ.setdefault(s.HOME, str(s.state_dir()))
    lines = export_lines(environ, owner=owner)
    role = "owner" if owner else "reader"
    where = f"the dev stack in {s.state_dir()}" if stack_found else "the environment"
    typer.echo(f"# {role} role, stores of {where}", err=True)
    typer.echo("\n".join(lines))
