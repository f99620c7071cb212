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

from market_assets.core.settings import StoreSettings
from market_assets.core.timeframes import Timeframe
from market_assets.defs.ohlcv import metadata as md
from market_assets.defs.ohlcv.asset_factory import ohlcv_asset
from market_assets.defs.ohlcv.automation import FOLLOW_PARENT
from market_assets.defs.ohlcv.checks import BAR_ROLLUPS, DB_BARS, ROLLUP_SPECS, rollup_results
from market_assets.defs.ohlcv.selection import materializing, run_partitions, selected_checks
from market_assets.ohlcv.bar_reads import RELATIONS
from market_assets.ohlcv.rollups import refresh_rollups
from resources.postgres import PostgresResource

ROLLUP_RELATIONS = {str(tf): r for tf, r in RELATIONS.items() if tf is not Timeframe.M1}
_LISTED = "\n".join(f"- {tf}: `<schema>.{r}`" for tf, r in ROLLUP_RELATIONS.items())
DESCRIPTION = f"""Bars of every coarser timeframe, derived from db_bars in the same database and
schema (`MARKET_ASSETS_PG_SCHEMA`, default `market`):

{_LISTED}

M5..D1 are TimescaleDB continuous aggregates or rollup tables with the same arithmetic
(refreshed for the weeks a run touched), W1 and MN1 views over D1. Bars are labelled by their
opening time; D1 groups by session. Read them with `market-assets bars SYMBOL H1 --last 100` or
`market_assets.read.get_ohlcv(symbol, "H1", last_n=100)`."""


def definition_metadata(schema: str) -> dict[str, MetadataValue]:
    """The relations this asset fills. Not `dagster/table_name`: that names one relation, and a
    rollup is eight (their columns differ from the bar contract's too, so no column schema)."""
    return {
        "relations": MetadataValue.json(
            {tf: md.qualified(schema, r) for tf, r in ROLLUP_RELATIONS.items()}
        )
    }


@ohlcv_asset(
    BAR_ROLLUPS,
    description=DESCRIPTION,
    kinds={"postgres", "timescale"},
    check_specs=ROLLUP_SPECS,
    metadata=definition_metadata(StoreSettings.from_env().pg_schema),
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
            metadata=md.batch_figures(figures),
        )
    yield from rollup_results(
        selected_checks(context, BAR_ROLLUPS), parts, postgres, context.run_id
    )
