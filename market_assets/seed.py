"""First-start data: the universe's symbols registered, and recent sessions materialised.

A newcomer opening the UI should see data. Seeding is one Dagster run over a date range x
every universe symbol (a multi-partition range is the cartesian product of both dimensions),
recorded in the instance like any run, so the UI shows the partitions as materialised.
"""

from __future__ import annotations

import datetime as dt

from dagster import DagsterInstance, materialize

from market_assets.assets.ohlcv import OHLCV_ASSETS
from market_assets.partitions import partition_key, symbols
from market_assets.store_resources import source_resource, store_resources
from market_assets.universe import default_universe


def register_universe_symbols(instance: DagsterInstance) -> list[str]:
    """Add the universe's active symbols to the `symbols` dynamic partitions (idempotent)."""
    wanted = default_universe().symbols(active_only=True)
    have = set(instance.get_dynamic_partitions(symbols.name or "symbols"))
    missing = [sym for sym in wanted if sym not in have]
    if missing:
        instance.add_dynamic_partitions(symbols.name or "symbols", missing)
    return wanted


def seed_recent_sessions(
    instance: DagsterInstance, days: int, today: dt.date | None = None
) -> bool:
    """Materialise the last `days` calendar days for every registered symbol in one run."""
    register_universe_symbols(instance)
    keys = instance.get_dynamic_partitions(symbols.name or "symbols")
    if not keys or days <= 0:
        return True
    end = (today or dt.datetime.now(dt.UTC).date()) - dt.timedelta(days=1)
    start = end - dt.timedelta(days=days - 1)
    result = materialize(
        OHLCV_ASSETS,
        instance=instance,
        resources={**store_resources(), "sources": source_resource()},
        tags={
            "dagster/asset_partition_range_start": str(partition_key(start, keys[0])),
            "dagster/asset_partition_range_end": str(partition_key(end, keys[-1])),
            "market-assets/seed": "true",
        },
        raise_on_error=False,
    )
    return result.success
