"""Alembic environment: runs on a connection handed over by market_assets.db.migrate.

Every revision applies SQL files from sql/migrations; Python here only decides which files
(the dialect) and where (the schema), so the SQL stays reviewable as SQL.
"""

from __future__ import annotations

from alembic import context

config = context.config
connection = config.attributes["connection"]
schema = config.attributes["schema"]

context.configure(
    connection=connection,
    version_table_schema=schema,
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
