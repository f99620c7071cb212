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


def upgrade(url: str, schema: str, target: str = "head", dialect: str | None = None) -> str:
    """Apply migrations up to `target`; returns the dialect used."""
    with _alembic(url, schema, dialect) as (cfg, conn):
        command.upgrade(cfg, target)
        conn.commit()
        return cfg.attributes["dialect"]


def downgrade(url: str, schema: str, target: str = "-1", dialect: str | None = None) -> str:
    with _alembic(url, schema, dialect) as (cfg, conn):
        command.downgrade(cfg, target)
        conn.commit()
        return cfg.attributes["dialect"]


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
