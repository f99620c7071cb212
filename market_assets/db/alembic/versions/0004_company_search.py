"""Company name search (pg_trgm where present), company change history, sync log columns.

Revision ID: 0004_company_search
Revises: 0003_calendar_rollups
"""

from market_assets.db.sqlfiles import apply_migration_sql

revision = "0004_company_search"
down_revision = "0003_calendar_rollups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_migration_sql(revision, "up")


def downgrade() -> None:
    apply_migration_sql(revision, "down")
