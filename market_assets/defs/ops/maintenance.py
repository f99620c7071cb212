"""Database upkeep: the maintenance job (VACUUM ANALYZE, retention, compression status) and
its weekly schedule."""

from dagster import OpExecutionContext, ScheduleDefinition, job, op
from psycopg import sql

from market_assets.db.policies import PolicySettings, enforce_retention
from market_assets.defs.status import schedule_status
from resources.postgres import PostgresResource

BAR_TABLES = ("ohlcv_bars", "data_collection_log", "data_quality_metrics", "quarantine")


@op(description="VACUUM ANALYZE the bar tables; apply retention and report compression.")
def maintain_database(context: OpExecutionContext, postgres_owner: PostgresResource) -> None:
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
    retention = ", ".join(f"{tf} {v}" for tf, v in policy.configured().items()) or "off"
    context.log.info(
        f"vacuumed {len(BAR_TABLES)} tables; retention {retention};"
        f" dropped {dropped} old partitions"
    )


@job(description="Database upkeep: VACUUM ANALYZE, retention, compression status.")
def database_maintenance() -> None:
    maintain_database()


maintenance_schedule = ScheduleDefinition(
    name="weekly_database_maintenance",
    cron_schedule="0 3 * * 6",
    execution_timezone="UTC",
    job=database_maintenance,
    default_status=schedule_status(),
    description="Saturday 03:00 UTC, when no market in scope trades.",
)
