"""db_bars: the partitions' bars from S3 into PostgreSQL/TimescaleDB.

Reads every object of the batch (one GET each, in parallel) and replaces the batch's partitions
in one transaction. The gate is per partition: only partitions whose latest raw_bars
collection succeeded (fully or with quarantined rows) flow in; held-back ones keep whatever the
database had.
"""

from collections.abc import Iterator

from dagster import AssetCheckResult, AssetExecutionContext, MaterializeResult, MetadataValue

from market_assets.core.partition_keys import BarPartition
from market_assets.defs.ohlcv.asset_factory import ohlcv_asset
from market_assets.defs.ohlcv.automation import FOLLOW_PARENT
from market_assets.defs.ohlcv.checks import (
    DB_BARS,
    RAW_BARS,
    RECONCILIATION_SPEC,
    reconciliation_results,
)
from market_assets.defs.ohlcv.freshness_checks import FRESHNESS_SPECS, freshness_results
from market_assets.defs.ohlcv.selection import materializing, run_partitions, selected_checks
from market_assets.ohlcv.load import load_db_bars
from resources.postgres import PostgresResource
from resources.s3 import S3Resource


@ohlcv_asset(
    DB_BARS,
    description="Base-timeframe bars in the database, replaced per partition from S3.",
    kinds={"postgres", "timescale"},
    check_specs=[RECONCILIATION_SPEC, *FRESHNESS_SPECS],
    deps=[RAW_BARS],
    automation_condition=FOLLOW_PARENT,
)
def db_bars(
    context: AssetExecutionContext, s3: S3Resource, postgres: PostgresResource
) -> Iterator[MaterializeResult | AssetCheckResult]:
    checks = selected_checks(context, DB_BARS)
    # The freshness checks need no partitions: their cron runs carry none.
    if materializing(context, DB_BARS) or RECONCILIATION_SPEC.name in checks:
        parts = run_partitions(context)
        if materializing(context, DB_BARS):
            yield materialize_db_bars(context, parts, s3, postgres)
        yield from reconciliation_results(checks, parts, s3, postgres, context.run_id)
    yield from freshness_results(checks, context.instance, postgres, context.run_id)


def materialize_db_bars(
    context: AssetExecutionContext,
    parts: list[BarPartition],
    s3: S3Resource,
    postgres: PostgresResource,
) -> MaterializeResult:
    outcome = load_db_bars(parts, s3, postgres, context.run_id)
    for part in outcome.held:
        context.log.warning(f"not loading {part.key}: raw_bars held it back")
    meta = {name: MetadataValue.int(v) for name, v in outcome.figures.items()}
    meta["partitions_loaded"] = MetadataValue.int(len(outcome.loaded))
    meta["partitions_held_back"] = MetadataValue.int(len(outcome.held))
    return MaterializeResult(asset_key=DB_BARS, metadata=meta)
