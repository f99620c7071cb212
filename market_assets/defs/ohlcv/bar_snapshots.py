"""bar_snapshots: the latest N bars per symbol and timeframe, published to Redis.

One snapshot per symbol and timeframe, whatever the number of partitions in the run: a batch
of a year of one symbol publishes nine snapshots, not 365 x 9. Redis being down fails this
step only (S3 and the database are already written) and the retry policy tries again; a
snapshot can always be rebuilt from the database.
"""

from collections.abc import Iterator

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
)

from market_assets.defs.ohlcv.asset_factory import ohlcv_asset
from market_assets.defs.ohlcv.automation import FOLLOW_PARENT
from market_assets.defs.ohlcv.checks import (
    BAR_ROLLUPS,
    BAR_SNAPSHOTS,
    SNAPSHOT_SPEC,
    snapshot_results,
)
from market_assets.defs.ohlcv.selection import materializing, run_partitions, selected_checks
from market_assets.ohlcv.publish import publish_symbols
from market_assets.ohlcv.snapshots import DEFAULT_BARS
from resources.postgres import PostgresResource
from resources.redis import RedisResource


class SnapshotConfig(Config):
    bars: int = DEFAULT_BARS


@ohlcv_asset(
    BAR_SNAPSHOTS,
    description="Latest N bars per symbol and timeframe in Redis (Arrow IPC, lz4).",
    kinds={"redis"},
    check_specs=[SNAPSHOT_SPEC],
    deps=[BAR_ROLLUPS],
    automation_condition=FOLLOW_PARENT,
)
def bar_snapshots(
    context: AssetExecutionContext,
    config: SnapshotConfig,
    postgres: PostgresResource,
    redis: RedisResource,
) -> Iterator[MaterializeResult | AssetCheckResult]:
    parts = run_partitions(context)
    if materializing(context, BAR_SNAPSHOTS):
        figures = publish_symbols(postgres, redis, sorted({p.symbol for p in parts}), config.bars)
        yield MaterializeResult(
            asset_key=BAR_SNAPSHOTS,
            metadata={k: MetadataValue.int(v) for k, v in figures.items()},
        )
    yield from snapshot_results(
        selected_checks(context, BAR_SNAPSHOTS), parts, postgres, redis, context.run_id
    )
