"""Ledger of landing-zone files (one row per file version), so each is processed exactly once.

Revision ID: 0005_landing_files
Revises: 0004_company_search
"""

from market_assets.db.sqlfiles import apply_migration_sql

revision = "0005_landing_files"
down_revision = "0004_company_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_migration_sql(revision, "up")


def downgrade() -> None:
    apply_migration_sql(revision, "down")
