"""bar_rollups: M5, M15, M30, H1, H4 and D1 refreshed for the weeks a batch touched.

W1 and MN1 are views over D1 and need no refresh. S3 keeps the base timeframe only: every
rollup is derived and can be rebuilt from the bars.
"""

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from market_assets.assets.automation import FOLLOW_PARENT
from market_assets.assets.db_bars import db_bars
from market_assets.assets.policies import BATCHED_BACKFILL, STORE_RETRY
from market_assets.partitions import bar_partitions, parse_partitions
from market_assets.rollups import refresh_rollups
from resources.postgres import PostgresResource


@asset(
    deps=[db_bars],
    partitions_def=bar_partitions,
    backfill_policy=BATCHED_BACKFILL,
    retry_policy=STORE_RETRY,
    automation_condition=FOLLOW_PARENT,
    code_version="1",
    group_name="ohlcv",
    kinds={"postgres", "timescale"},
    description="M5..D1 as continuous aggregates or rollup tables; W1 and MN1 as views.",
)
def bar_rollups(context: AssetExecutionContext, postgres: PostgresResource) -> MaterializeResult:
    figures = refresh_rollups(postgres, parse_partitions(context.partition_keys))
    return MaterializeResult(metadata={k: MetadataValue.text(str(v)) for k, v in figures.items()})
