"""ohlcv_bars keeps only its primary key: the session index is dropped for load speed.

Revision ID: 0007_primary_key_only
Revises: 0006_adjustment_events
"""

from market_assets.db.sqlfiles import apply_migration_sql

revision = "0007_primary_key_only"
down_revision = "0006_adjustment_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_migration_sql(revision, "up")


def downgrade() -> None:
    apply_migration_sql(revision, "down")
