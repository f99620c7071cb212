"""What a run selected of a subsettable OHLCV multi-asset: the asset itself, its checks, or both.

Each OHLCV asset is a one-asset `@multi_asset(can_subset=True)` carrying its checks
(market_assets/defs/ohlcv/checks.py says why), so a run may ask for the checks alone: then the step
evaluates them against what is stored and materialises nothing.
"""

from dagster import AssetExecutionContext, AssetKey, Failure

from market_assets.core.listing import ListedParts, clip_days
from market_assets.core.partition_keys import BarPartition, parse_partitions
from market_assets.core.universe import Instrument, UnknownSymbolError, default_universe
from market_assets.defs.ohlcv.partitions import bar_partitions


def materializing(context: AssetExecutionContext, key: AssetKey) -> bool:
    return key in context.selected_asset_keys


def selected_checks(context: AssetExecutionContext, key: AssetKey) -> set[str]:
    return {k.name for k in context.selected_asset_check_keys if k.asset_key == key}


def run_partitions(context: AssetExecutionContext) -> list[BarPartition]:
    """The run's date x symbol partitions inside their symbols' listing (`run_listed`)."""
    return run_listed(context).parts


def instrument_or_none(symbol: str) -> Instrument | None:
    try:
        return default_universe().resolve(symbol)
    except UnknownSymbolError:
        return None


def run_listed(context: AssetExecutionContext) -> ListedParts:
    """The run's date x symbol partitions, from its partition key range, cut to each symbol's
    listing window (core/listing.py): the days outside are skipped, with the reason.

    Not `context.partition_keys`: in a run that selects only checks (which are unpartitioned),
    Dagster has no partitions definition for the run and refuses it, although the run carries
    the range. A run without any partition (a check launched alone with none chosen) gets a
    clear error instead of Dagster's.
    """
    if not (context.has_partition_key or context.has_partition_key_range):
        raise Failure(
            description="this step works on the partitions of its run: launch it with a"
            " partition or a partition range (the freshness checks are the ones that need none)"
        )
    keys = bar_partitions.get_partition_keys_in_range(
        context.partition_key_range, dynamic_partitions_store=context.instance
    )
    return clip_days(parse_partitions(keys), instrument_or_none)
