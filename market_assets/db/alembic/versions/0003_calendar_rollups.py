"""W1 and MN1 views over D1; checksum and size of each collected object.

Revision ID: 0003_calendar_rollups
Revises: 0002_rollups
"""

from market_assets.db.sqlfiles import apply_migration_sql

revision = "0003_calendar_rollups"
down_revision = "0002_rollups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_migration_sql(revision, "up")


def downgrade() -> None:
    apply_migration_sql(revision, "down")
