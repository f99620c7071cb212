"""Rollups M5..D1: continuous aggregates (TimescaleDB) or rollup tables (PostgreSQL).

Revision ID: 0002_rollups
Revises: 0001_core
"""

from market_assets.db.sqlfiles import apply_migration_sql

revision = "0002_rollups"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_migration_sql(revision, "up")


def downgrade() -> None:
    apply_migration_sql(revision, "down")
