"""data_collection_log.object_checksum: the content of each partition's written/loaded object.

Revision ID: 0008_loaded_checksums
Revises: 0007_primary_key_only
"""

from market_assets.db.sqlfiles import apply_migration_sql

revision = "0008_loaded_checksums"
down_revision = "0007_primary_key_only"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_migration_sql(revision, "up")


def downgrade() -> None:
    apply_migration_sql(revision, "down")
