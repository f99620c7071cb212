"""Versioned migrations (Alembic over SQL files), in one schema, on either dialect."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.pool import NullPool

from market_assets.core.identifiers import validate_sql_identifier
from resources.errors import StoreUnavailableError, url_address
from resources.postgres import conninfo_for, detect_capabilities

ALEMBIC_DIR = Path(__file__).resolve().parent / "alembic"


@dataclass(frozen=True)
class MigrationStep:
    revision: str
    down_revision: str | None
    doc: str
    applied: bool


def sqlalchemy_url(url: str) -> str:
    return conninfo_for(url).replace("postgresql://", "postgresql+psycopg://", 1)


def detect_dialect(url: str, connect_timeout_s: int = 5) -> str:
    try:
        with psycopg.connect(conninfo_for(url), connect_timeout=connect_timeout_s) as conn:
            return detect_capabilities(conn).dialect
    except psycopg.OperationalError as exc:
        raise StoreUnavailableError("PostgreSQL", url_address(conninfo_for(url)), exc) from exc


@contextmanager
def _alembic(
    url: str, schema: str, dialect: str | None, connect_timeout_s: int = 5
) -> Iterator[tuple[Config, sa.Connection]]:
    validate_sql_identifier(schema)
    engine = sa.create_engine(
        sqlalchemy_url(url),
        poolclass=NullPool,
        connect_args={"connect_timeout": connect_timeout_s},
    )
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(
                "SELECT set_config('search_path', %s, false)", (f"{schema}, public",)
            )
            conn.commit()
            if dialect is None:
                dialect = detect_capabilities(conn.connection.driver_connection).dialect
                conn.rollback()
            cfg = Config()
            cfg.set_main_option("script_location", str(ALEMBIC_DIR))
            cfg.attributes.update(connection=conn, schema=schema, dialect=dialect)
            yield cfg, conn
    except sa.exc.OperationalError as exc:
        raise StoreUnavailableError("PostgreSQL", url_address(conninfo_for(url)), exc.orig) from exc
    finally:
        engine.dispose()


# Revisions that recreate TimescaleDB's continuous aggregates (a cagg's query cannot be
# altered) and the caggs, children first: after crossing one, in either direction, every level
# is refreshed over all the bars held. That cannot run in the migration's transaction.
CAGG_RECREATING = frozenset({"0010_rollups_from_any_base", "0011_bars_per_timeframe"})
CAGGS = ("ohlcv_m5", "ohlcv_m15", "ohlcv_m30", "ohlcv_h1", "ohlcv_h4", "ohlcv_d1")


def _revision(conn: sa.Connection, schema: str) -> str | None:
    ctx = MigrationContext.configure(conn, opts={"version_table_schema": schema})
    return ctx.get_current_revision()


def _crossed(cfg: Config, before: str | None, after: str | None) -> set[str]:
    """The revisions between two heads (applied or undone)."""
    if before == after:
        return set()
    scripts = ScriptDirectory.from_config(cfg)
    upper, lower = (after, before) if _is_ancestor(scripts, before, after) else (before, after)
    return {r.revision for r in scripts.iterate_revisions(upper or "base", lower or "base")}


def _is_ancestor(scripts: ScriptDirectory, older: str | None, newer: str | None) -> bool:
    if older is None:
        return True
    if newer is None:
        return False
    return any(r.revision == older for r in scripts.iterate_revisions(newer, "base"))


def _refresh_caggs(conn: sa.Connection) -> None:
    driver = conn.connection.driver_connection
    driver.autocommit = True  # refresh_continuous_aggregate refuses transaction blocks
    try:
        for view in CAGGS:
            driver.execute(
                psycopg.sql.SQL("CALL refresh_continuous_aggregate({}, NULL, NULL)").format(
                    psycopg.sql.Literal(view)
                )
            )
    finally:
        driver.autocommit = False


def _migrate(url: str, schema: str, target: str, dialect: str | None, up: bool) -> str:
    with _alembic(url, schema, dialect) as (cfg, conn):
        before = _revision(conn, schema)
        conn.commit()
        (command.upgrade if up else command.downgrade)(cfg, target)
        conn.commit()
        after = _revision(conn, schema)
        conn.commit()
        used = cfg.attributes["dialect"]
        if used == "timescale" and _crossed(cfg, before, after) & CAGG_RECREATING:
            exists = conn.exec_driver_sql("SELECT to_regclass('ohlcv_m5') IS NOT NULL").scalar()
            conn.commit()
            if exists:  # not when the downgrade went below 0002
                _refresh_caggs(conn)
        return used


def upgrade(url: str, schema: str, target: str = "head", dialect: str | None = None) -> str:
    """Apply migrations up to `target`; returns the dialect used."""
    return _migrate(url, schema, target, dialect, up=True)


def downgrade(url: str, schema: str, target: str = "-1", dialect: str | None = None) -> str:
    return _migrate(url, schema, target, dialect, up=False)


def current(url: str, schema: str) -> str | None:
    with _alembic(url, schema, dialect="postgres") as (_cfg, conn):
        ctx = MigrationContext.configure(conn, opts={"version_table_schema": schema})
        return ctx.get_current_revision()


def history(url: str, schema: str) -> list[MigrationStep]:
    """Every known revision, oldest first, with whether it is applied here."""
    applied_head = current(url, schema)
    cfg = Config()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    scripts = ScriptDirectory.from_config(cfg)
    revisions = list(reversed(list(scripts.walk_revisions())))
    applied_ids: set[str] = set()
    if applied_head:
        applied_ids = {r.revision for r in scripts.iterate_revisions(applied_head, "base")}
    return [
        MigrationStep(
            revision=r.revision,
            down_revision=r.down_revision if isinstance(r.down_revision, str) else None,
            doc=(r.doc or "").strip(),
            applied=r.revision in applied_ids,
        )
        for r in revisions
    ]
