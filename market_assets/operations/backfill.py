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
from typing import Any

from dagster import AssetsDefinition, DagsterInstance, ExecuteInProcessResult, materialize

from market_assets.composition import definitions_resources
from market_assets.core.families import Family
from market_assets.core.names import RAW_BARS
from market_assets.core.partition_keys import SYMBOLS_PARTITIONS
from market_assets.core.run_plan import RunWindow, plan_runs
from market_assets.masters.registration import add_symbol_partitions
from market_assets.operations.progress import (
    ProgressFn,
    Step,
    metadata_rows,
    report,
    window_label,
    window_partitions,
)


def console_run_config(level: str = "INFO") -> dict[str, object]:
    """Run config for runs launched from a terminal: the console shows INFO and above.

    Dagster's engine writes a dozen DEBUG lines per step to the console logger; in a terminal
    they bury the lines an operator needs. The event log still receives every event.
    """
    return {"loggers": {"console": {"config": {"log_level": level}}}}


def register_symbols(instance: DagsterInstance, chosen: list[str]) -> list[str]:
    """Add the chosen symbols that are not yet partitions; the registered keys, in order."""
    add_symbol_partitions(instance, chosen)
    return list(instance.get_dynamic_partitions(SYMBOLS_PARTITIONS))


def run_backfill(
    instance: DagsterInstance,
    assets: Sequence[AssetsDefinition],
    start: dt.date,
    end: dt.date,
    chosen: list[str],
    days_per_run: int = 366,
    progress: ProgressFn | None = None,
) -> list[tuple[RunWindow, bool]]:
    """Materialise `assets` (with their checks) over the range, one run per planned window.

    `progress` (when given) gets a `Step` with the total first (no partitions done), then one
    after each run: the window's partitions of the whole range's, and the rows `raw_bars`
    reported in the run's materialisation metadata."""
    registered = register_symbols(instance, chosen)
    outcomes = []
    windows = plan_runs(start, end, chosen, registered, days_per_run)
    total = sum(window_partitions(w, registered) for w in windows)
    report(progress, Step(f"{len(windows)} runs planned", 0, total, 0))  # the total, at once
    for window in windows:
        result = materialize(
            assets,
            instance=instance,
            resources=definitions_resources(),
            tags={**window.range_tags(), "dagster/backfill-cli": "true"},
            run_config=console_run_config(),
            raise_on_error=False,
        )
        outcomes.append((window, result.success))
        rows = metadata_rows(materialization_metadata(result), RAW_BARS)
        partitions = window_partitions(window, registered)
        report(progress, Step(window_label(window), partitions, total, rows, ok=result.success))
    return outcomes


def materialization_metadata(result: ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    """Each asset's materialisation metadata in a run, by asset name. A range run's result is
    recorded once per partition with the same metadata: the first event is the run's."""
    found: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        found.setdefault(materialization.asset_key.to_user_string(), dict(materialization.metadata))
    return found


def run_family_backfill(
    instance: DagsterInstance,
    assets: Sequence[AssetsDefinition],
    family: Family,
    start: dt.date,
    end: dt.date,
    chosen: list[str],
    progress: ProgressFn | None = None,
) -> list[tuple[RunWindow, bool]]:
    """`run_backfill` for a family with a coarser date grain (the daily family's years): the
    chosen symbols of that family (others are skipped: they belong to another family's
    assets), one run per contiguous block of them over the periods holding start..end. A
    period before a symbol's first session holds no session and is skipped, not failed."""
    add_symbol_partitions(instance, chosen)
    registered = list(instance.get_dynamic_partitions(family.symbols_set))
    have = set(registered)
    mine = [s for s in chosen if s in have]
    # The family's keys whose periods meet start..end (a weekdays family has none on weekends).
    keys = [k for k in family.date_keys(end) if family.period(k)[1] >= start]
    first, last = (family.period(keys[0])[0], family.period(keys[-1])[0]) if keys else (start, end)
    span = (last - first).days + 1
    windows = plan_runs(first, last, mine, registered, span) if mine and keys else []
    periods = len(keys)

    def size(w: RunWindow) -> int:
        return periods * (registered.index(w.last_symbol) - registered.index(w.first_symbol) + 1)

    total = sum(size(w) for w in windows)
    report(progress, Step(f"{len(windows)} runs planned", 0, total, 0))
    outcomes = []
    for window in windows:
        result = materialize(
            assets,
            instance=instance,
            resources=definitions_resources(),
            tags={**window.range_tags(family), "dagster/backfill-cli": "true"},
            run_config=console_run_config(),
            raise_on_error=False,
        )
        outcomes.append((window, result.success))
        rows = metadata_rows(materialization_metadata(result), f"{family.name}_raw_bars")
        label = f"{family.date_key(window.start)}..{family.date_key(window.end)} x "
        label += f"{window.first_symbol}..{window.last_symbol}"
        report(progress, Step(label, size(window), total, rows, ok=result.success))
    return outcomes
