"""First-start data: the universe's symbols registered, and recent sessions materialised.

A newcomer opening the UI should see data. Seeding is one Dagster run over a date range x
every universe symbol (a multi-partition range is the cartesian product of both dimensions),
recorded in the instance like any run, so the UI shows the partitions as materialised.
"""

from __future__ import annotations

import datetime as dt

from dagster import DagsterInstance, materialize

from market_assets.backfill import console_run_config
from market_assets.partitions import symbols
from market_assets.store_resources import store_resources
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
    """Materialise the last `days` calendar days for every universe symbol in one run."""
    from market_assets.backfill import run_backfill

    chosen = register_universe_symbols(instance)
    if not chosen or days <= 0:
        return True
    end = (today or dt.datetime.now(dt.UTC).date()) - dt.timedelta(days=1)
    start = end - dt.timedelta(days=days - 1)
    return all(ok for _, ok in run_backfill(instance, start, end, chosen, days_per_run=days))


def sync_company_master(instance: DagsterInstance) -> bool:
    """Run the master sync (sample file by default); it registers company symbols."""
    from market_assets.assets.masters import MASTER_ASSETS
    from resources.masters.resource import master_source_resource

    result = materialize(
        MASTER_ASSETS,
        instance=instance,
        resources={**store_resources(), "master_source": master_source_resource()},
        run_config=console_run_config(),
        raise_on_error=False,
    )
    return result.success
