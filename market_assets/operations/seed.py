"""First-start data: the universe's symbols registered, and recent sessions materialised.

A newcomer opening the UI should see data. Seeding is one Dagster run over a date range x
every universe symbol (a multi-partition range is the cartesian product of both dimensions),
recorded in the instance like any run, so the UI shows the partitions as materialised. The
caller passes the asset definitions (see market_assets/operations/backfill.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from dagster import AssetsDefinition, DagsterInstance, materialize

from market_assets.composition import definitions_resources
from market_assets.core.universe import default_universe
from market_assets.operations.backfill import console_run_config, register_symbols, run_backfill
from market_assets.operations.progress import ProgressFn


def register_universe_symbols(instance: DagsterInstance) -> list[str]:
    """Add the universe's active symbols to the `symbols` dynamic partitions (idempotent)."""
    wanted = default_universe().symbols(active_only=True)
    register_symbols(instance, wanted)
    return wanted


def seed_recent_sessions(
    instance: DagsterInstance,
    assets: Sequence[AssetsDefinition],
    days: int,
    today: dt.date | None = None,
    progress: ProgressFn | None = None,
) -> bool:
    """Materialise the last `days` calendar days for every universe symbol in one run;
    `progress` gets a step per run (see run_backfill)."""
    chosen = register_universe_symbols(instance)
    if not chosen or days <= 0:
        return True
    end = (today or dt.datetime.now(dt.UTC).date()) - dt.timedelta(days=1)
    start = end - dt.timedelta(days=days - 1)
    outcomes = run_backfill(instance, assets, start, end, chosen, days, progress)
    return all(ok for _, ok in outcomes)


def sync_company_master(instance: DagsterInstance, assets: Sequence[AssetsDefinition]) -> bool:
    """Run the master sync (sample file by default); it registers company symbols."""
    result = materialize(
        assets,
        instance=instance,
        resources=definitions_resources(),
        run_config=console_run_config(),
        raise_on_error=False,
    )
    return result.success
