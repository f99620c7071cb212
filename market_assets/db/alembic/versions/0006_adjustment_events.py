"""Corporate-action factors per ex-date session, kept outside the bar tables' retention.

Revision ID: 0006_adjustment_events
Revises: 0005_landing_files
"""

from market_assets.db.sqlfiles import apply_migration_sql

revision = "0006_adjustment_events"
down_revision = "0005_landing_files"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_migration_sql(revision, "up")


def downgrade() -> None:
    apply_migration_sql(revision, "down")
