"""db_bars: the partitions' bars from S3 into PostgreSQL/TimescaleDB.

Reads every object of the batch (one GET each, in parallel) and replaces the batch's partitions
in one transaction. The gate is per partition: only partitions whose latest raw_bars
collection succeeded (fully or with quarantined rows) flow in; held-back ones keep whatever the
database had.
"""

from collections.abc import Iterator

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
)

from market_assets.core.partition_keys import BarPartition
from market_assets.core.settings import StoreSettings
from market_assets.core.timeframes import Timeframe
from market_assets.defs.ohlcv import metadata as md
from market_assets.defs.ohlcv.asset_factory import ohlcv_asset
from market_assets.defs.ohlcv.automation import FOLLOW_PARENT
from market_assets.defs.ohlcv.checks import (
    DB_BARS,
    RAW_BARS,
    RECONCILIATION_SPEC,
    reconciliation_results,
)
from market_assets.defs.ohlcv.freshness_checks import FRESHNESS_SPECS, freshness_results
from market_assets.defs.ohlcv.partition_metadata import add_per_partition
from market_assets.defs.ohlcv.selection import materializing, run_partitions, selected_checks
from market_assets.ohlcv.bar_reads import RELATIONS
from market_assets.ohlcv.load import LoadOutcome, load_db_bars
from resources.postgres import PostgresResource
from resources.s3 import S3Resource

TABLE = RELATIONS[Timeframe.M1]
DESCRIPTION = f"""Base-timeframe bars in PostgreSQL/TimescaleDB, table `<schema>.{TABLE}` (schema
`MARKET_ASSETS_PG_SCHEMA`, default `market`; a TimescaleDB hypertable or monthly range
partitions), primary key (symbol, timeframe, ts), each partition replaced in one transaction
from its S3 object. Each materialization carries the partition's rows under
`dagster/row_count`. Read it with `market-assets bars SYMBOL M1 --last 100` or
`market_assets.read.get_ohlcv(symbol, "M1", last_n=100)` (the reader role), or in SQL as
the reader role, by symbol and session_date (indexed) or ts."""


def partition_metadata(outcome: LoadOutcome) -> dict[str, dict[str, MetadataValue]]:
    """Each partition's own metadata, by partition key: the rows it now holds and what changed,
    or that raw_bars held it back (its previous rows stay)."""
    meta: dict[str, dict[str, MetadataValue]] = {}
    for key, figures in outcome.per_partition.items():
        rest = {k: v for k, v in figures.items() if k != "rows"}
        meta[key] = md.partition_rows(figures["rows"], **{f"rows_{k}": v for k, v in rest.items()})
    for part in outcome.held:
        meta[str(part.key)] = md.held_back("raw_bars held it back; the previous rows stay")
    return meta


@ohlcv_asset(
    DB_BARS,
    description=DESCRIPTION,
    kinds={"postgres", "timescale"},
    check_specs=[RECONCILIATION_SPEC, *FRESHNESS_SPECS],
    metadata=md.bar_table_definition(md.qualified(StoreSettings.from_env().pg_schema, TABLE)),
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
    skipped = add_per_partition(context, DB_BARS, partition_metadata(outcome))
    batch = md.batch_figures(
        {
            **outcome.figures,
            "partitions_loaded": len(outcome.loaded),
            "partitions_held_back": len(outcome.held),
        }
    )
    return MaterializeResult(
        asset_key=DB_BARS,
        metadata={**batch, **skipped, **md.table(md.qualified(postgres.schema_name, TABLE))},
    )
