"""On TimescaleDB, drop the default ts index create_hypertable() built: the primary key only.

Revision ID: 0009_hypertable_primary_key_only
Revises: 0008_loaded_checksums
"""

from market_assets.db.sqlfiles import apply_migration_sql

revision = "0009_hypertable_primary_key_only"
down_revision = "0008_loaded_checksums"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_migration_sql(revision, "up")


def downgrade() -> None:
    apply_migration_sql(revision, "down")
