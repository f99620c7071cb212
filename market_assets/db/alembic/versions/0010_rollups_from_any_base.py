"""Rollups from any intraday base (M1..H4 ride through the finer levels), W1/MN1 over D1 bases.

Revision ID: 0010_rollups_from_any_base
Revises: 0009_hypertable_primary_key_only
"""

from market_assets.db.sqlfiles import apply_migration_sql

revision = "0010_rollups_from_any_base"
down_revision = "0009_hypertable_primary_key_only"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_migration_sql(revision, "up")


def downgrade() -> None:
    apply_migration_sql(revision, "down")
