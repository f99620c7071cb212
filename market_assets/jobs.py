"""Jobs that schedules and sensors target."""

from dagster import AssetSelection, OpExecutionContext, define_asset_job, job, op
from psycopg import sql

from market_assets.assets.masters import MASTER_ASSETS
from market_assets.assets.ohlcv import OHLCV_ASSETS
from market_assets.partitions import bar_partitions
from resources.postgres import PostgresResource

ohlcv_job = define_asset_job(
    "ohlcv_daily",
    selection=AssetSelection.assets(*OHLCV_ASSETS),
    partitions_def=bar_partitions,
    description="Every OHLCV asset (and its checks) for a batch of date x symbol partitions.",
)

master_sync_job = define_asset_job(
    "company_master_sync",
    selection=AssetSelection.assets(*MASTER_ASSETS),
    description="Markets, sectors and companies from the configured master source.",
)

BAR_TABLES = ("ohlcv_bars", "data_collection_log", "data_quality_metrics", "quarantine")


@op(description="VACUUM ANALYZE the bar tables; apply retention and report compression.")
def maintain_database(context: OpExecutionContext, postgres_owner: PostgresResource) -> None:
    from market_assets.db.policies import PolicySettings, enforce_retention

    policy = PolicySettings.from_env()
    with postgres_owner.connection() as conn:
        conn.commit()
        conn.autocommit = True  # VACUUM refuses transaction blocks
        try:
            dialect = postgres_owner.capabilities(conn).dialect
            for table in BAR_TABLES:  # a fixed allow-list, not input
                conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
            dropped = enforce_retention(conn, dialect, policy)
            if dialect == "timescale":
                row = conn.execute(
                    "SELECT count(*) FILTER (WHERE is_compressed), count(*)"
                    " FROM timescaledb_information.chunks WHERE hypertable_name = 'ohlcv_bars'"
                ).fetchone()
                context.log.info(f"compressed chunks: {row[0]} of {row[1]}" if row else "")
        finally:
            conn.autocommit = False
    context.log.info(f"vacuumed {len(BAR_TABLES)} tables; dropped {dropped} old partitions")


@job(description="Database upkeep: VACUUM ANALYZE, retention, compression status.")
def database_maintenance() -> None:
    maintain_database()
