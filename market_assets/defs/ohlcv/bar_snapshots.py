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
)

from market_assets.defs.ohlcv import metadata as md
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
from resources.cache_keys import snapshot_info_key, snapshot_key
from resources.postgres import PostgresResource
from resources.redis import RedisResource

DESCRIPTION = f"""The latest {DEFAULT_BARS} bars (run config `bars`) per symbol and timeframe in
Redis, one snapshot per symbol and timeframe: Arrow IPC compressed with lz4 at
`{snapshot_key("SYMBOL", "TF", "<prefix>")}`, its bounds and row count at
`{snapshot_info_key("SYMBOL", "TF", "<prefix>")}` (prefix `MARKET_ASSETS_REDIS_PREFIX`), expiring at
the next close + 1 h. `market-assets bars SYMBOL TF --last N` and
`market_assets.read.get_ohlcv(symbol, tf, last_n=N)` answer from here when the snapshot covers
the request (`frame.attrs["layer"] == "redis"`)."""


class SnapshotConfig(Config):
    bars: int = DEFAULT_BARS


@ohlcv_asset(
    BAR_SNAPSHOTS,
    description=DESCRIPTION,
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
            metadata=md.batch_figures(figures),
        )
    yield from snapshot_results(
        selected_checks(context, BAR_SNAPSHOTS), parts, postgres, redis, context.run_id
    )
