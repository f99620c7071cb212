"""Core tables: bars, collection log, quality metrics, quarantine, company masters.

Revision ID: 0001_core
Revises:
"""

from market_assets.db.sqlfiles import apply_migration_sql

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_migration_sql(revision, "up")


def downgrade() -> None:
    apply_migration_sql(revision, "down")
