"""Batched backfills from a terminal, outside the daemon.

`run_backfill` materialises a date range x symbols as a few runs, each a multi-partition range
(the cartesian product of a date window and a contiguous block of registered symbols, planned
by market_assets/core/run_plan.py), in this process and recorded in the instance like any run.
The caller passes the asset definitions (the CLI takes them from the code location), so this
service does not import the Dagster definitions it runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from dagster import AssetsDefinition, DagsterInstance, materialize

from market_assets.composition import definitions_resources
from market_assets.core.partition_keys import SYMBOLS_PARTITIONS
from market_assets.core.run_plan import RunWindow, plan_runs


def console_run_config(level: str = "INFO") -> dict[str, object]:
    """Run config for runs launched from a terminal: the console shows INFO and above.

    Dagster's engine writes a dozen DEBUG lines per step to the console logger; in a terminal
    they bury the lines an operator needs. The event log still receives every event.
    """
    return {"loggers": {"console": {"config": {"log_level": level}}}}


def register_symbols(instance: DagsterInstance, chosen: list[str]) -> list[str]:
    """Add the chosen symbols that are not yet partitions; the registered keys, in order."""
    registered = instance.get_dynamic_partitions(SYMBOLS_PARTITIONS)
    missing = [s for s in chosen if s not in registered]
    if missing:
        instance.add_dynamic_partitions(SYMBOLS_PARTITIONS, missing)
        registered = instance.get_dynamic_partitions(SYMBOLS_PARTITIONS)
    return list(registered)


def run_backfill(
    instance: DagsterInstance,
    assets: Sequence[AssetsDefinition],
    start: dt.date,
    end: dt.date,
    chosen: list[str],
    days_per_run: int = 366,
) -> list[tuple[RunWindow, bool]]:
    """Materialise `assets` (with their checks) over the range, one run per planned window."""
    registered = register_symbols(instance, chosen)
    outcomes = []
    for window in plan_runs(start, end, chosen, registered, days_per_run):
        result = materialize(
            assets,
            instance=instance,
            resources=definitions_resources(),
            tags={**window.range_tags(), "dagster/backfill-cli": "true"},
            run_config=console_run_config(),
            raise_on_error=False,
        )
        outcomes.append((window, result.success))
    return outcomes
