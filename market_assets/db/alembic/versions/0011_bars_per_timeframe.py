"""Bars filed apart per timeframe (LIST partitions or a hypertable dimension): cheap drops.

Revision ID: 0011_bars_per_timeframe
Revises: 0010_rollups_from_any_base
"""

from market_assets.db.sqlfiles import apply_migration_sql

revision = "0011_bars_per_timeframe"
down_revision = "0010_rollups_from_any_base"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_migration_sql(revision, "up")


def downgrade() -> None:
    apply_migration_sql(revision, "down")
