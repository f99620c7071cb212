"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from market_assets.db.sqlfiles import apply_migration_sql

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_migration_sql(revision, "up")


def downgrade() -> None:
    apply_migration_sql(revision, "down")
