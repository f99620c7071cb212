"""Apply one migration's SQL files for the dialect at hand.

A migration folder sql/migrations/<revision>/ holds `common.{up,down}.sql` for both dialects
and `timescale.*.sql` / `postgres.*.sql` for one. Upgrades run common then dialect (dialect
objects may reference common ones); downgrades run in reverse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from alembic import context, op

from market_assets.core.settings import SQL_DIR

MIGRATIONS_DIR = SQL_DIR / "migrations"
DIALECTS = ("timescale", "postgres")


def migration_files(revision: str, direction: Literal["up", "down"], dialect: str) -> list[Path]:
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}; expected one of {DIALECTS}")
    folder = MIGRATIONS_DIR / revision
    if not folder.is_dir():
        raise FileNotFoundError(f"no SQL folder for migration {revision}: {folder}")
    order = ["common", dialect] if direction == "up" else [dialect, "common"]
    return [p for name in order if (p := folder / f"{name}.{direction}.sql").exists()]


def apply_migration_sql(revision: str, direction: Literal["up", "down"]) -> None:
    dialect = context.config.attributes["dialect"]
    # The driver connection runs each file as one simple-protocol batch, so `%` and `:` in
    # SQL bodies reach the server untouched (no parameters are involved).
    driver = op.get_bind().connection.driver_connection
    for path in migration_files(revision, direction, dialect):
        driver.execute(path.read_text(encoding="utf-8"))
