"""bar_rollups: M5, M15, M30, H1, H4 and D1 refreshed for the weeks a batch touched.

W1 and MN1 are views over D1 and need no refresh. S3 keeps the base timeframe only: every
rollup is derived and can be rebuilt from the bars.
"""

from collections.abc import Iterator

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
)

from market_assets.defs.ohlcv.asset_factory import ohlcv_asset
from market_assets.defs.ohlcv.automation import FOLLOW_PARENT
from market_assets.defs.ohlcv.checks import BAR_ROLLUPS, DB_BARS, ROLLUP_SPECS, rollup_results
from market_assets.defs.ohlcv.selection import materializing, run_partitions, selected_checks
from market_assets.ohlcv.rollups import refresh_rollups
from resources.postgres import PostgresResource


@ohlcv_asset(
    BAR_ROLLUPS,
    description="M5..D1 as continuous aggregates or rollup tables; W1 and MN1 as views.",
    kinds={"postgres", "timescale"},
    check_specs=ROLLUP_SPECS,
    deps=[DB_BARS],
    automation_condition=FOLLOW_PARENT,
)
def bar_rollups(
    context: AssetExecutionContext, postgres: PostgresResource
) -> Iterator[MaterializeResult | AssetCheckResult]:
    parts = run_partitions(context)
    if materializing(context, BAR_ROLLUPS):
        figures = refresh_rollups(postgres, parts)
        yield MaterializeResult(
            asset_key=BAR_ROLLUPS,
            metadata={k: MetadataValue.text(str(v)) for k, v in figures.items()},
        )
    yield from rollup_results(
        selected_checks(context, BAR_ROLLUPS), parts, postgres, context.run_id
    )
