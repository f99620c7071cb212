"""Batched backfills and rebuilds, outside the daemon.

`run_backfill` materialises a date range x symbols as a few runs, each a multi-partition range
(the cartesian product of a date window and a contiguous block of registered symbols), in this
process and recorded in the instance like any run. `rebuild` restores the database and Redis
from S3, the system of record, without calling any source.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dagster import DagsterInstance, materialize

from market_assets.assets.bar_snapshots import publish_symbols
from market_assets.assets.db_bars import load_partitions_from_s3
from market_assets.assets.ohlcv import OHLCV_ASSETS
from market_assets.calendars import sessions_in_range
from market_assets.partitions import BarPartition, partition_key, symbols
from market_assets.rollups import refresh_rollups
from market_assets.snapshots import DEFAULT_BARS
from market_assets.store_resources import source_resource, store_resources
from market_assets.universe import default_universe
from resources.postgres import PostgresResource
from resources.redis import RedisResource
from resources.s3 import S3Resource


@dataclass(frozen=True)
class RunWindow:
    start: dt.date
    end: dt.date
    first_symbol: str
    last_symbol: str

    def range_tags(self) -> dict[str, str]:
        """The run tags that make one run carry this window's date x symbol range."""
        return {
            "dagster/asset_partition_range_start": str(
                partition_key(self.start, self.first_symbol)
            ),
            "dagster/asset_partition_range_end": str(partition_key(self.end, self.last_symbol)),
        }


def plan_runs(
    start: dt.date, end: dt.date, chosen: list[str], registered: list[str], days_per_run: int
) -> list[RunWindow]:
    """Date windows x contiguous blocks of the chosen symbols in registration order."""
    order = [s for s in registered if s in set(chosen)]
    blocks: list[list[str]] = []
    for symbol in order:
        index = registered.index(symbol)
        if blocks and registered.index(blocks[-1][-1]) == index - 1:
            blocks[-1].append(symbol)
        else:
            blocks.append([symbol])
    windows = []
    day = start
    while day <= end:
        stop = min(end, day + dt.timedelta(days=days_per_run - 1))
        windows.extend(RunWindow(day, stop, b[0], b[-1]) for b in blocks)
        day = stop + dt.timedelta(days=1)
    return windows


def console_run_config(level: str = "INFO") -> dict[str, object]:
    """Run config for runs launched from a terminal: the console shows INFO and above.

    Dagster's engine writes a dozen DEBUG lines per step to the console logger; in a terminal
    they bury the lines an operator needs. The event log still receives every event.
    """
    return {"loggers": {"console": {"config": {"log_level": level}}}}


def run_backfill(
    instance: DagsterInstance,
    start: dt.date,
    end: dt.date,
    chosen: list[str],
    days_per_run: int = 366,
) -> list[tuple[RunWindow, bool]]:
    registered = instance.get_dynamic_partitions(symbols.name or "symbols")
    missing = [s for s in chosen if s not in registered]
    if missing:
        instance.add_dynamic_partitions(symbols.name or "symbols", missing)
        registered = instance.get_dynamic_partitions(symbols.name or "symbols")
    outcomes = []
    for window in plan_runs(start, end, chosen, registered, days_per_run):
        result = materialize(
            OHLCV_ASSETS,  # with their checks (check_specs)
            instance=instance,
            resources={**store_resources(), "sources": source_resource()},
            tags={**window.range_tags(), "dagster/backfill-cli": "true"},
            run_config=console_run_config(),
            raise_on_error=False,
        )
        outcomes.append((window, result.success))
    return outcomes


def rebuild(
    s3: S3Resource,
    postgres: PostgresResource,
    redis: RedisResource | None,
    start: dt.date,
    end: dt.date,
    chosen: list[str],
) -> dict[str, int]:
    """Database rows, rollups and snapshots of the range restored from S3."""
    universe = default_universe()
    parts = [
        BarPartition(day, symbol)
        for symbol in chosen
        for day in sessions_in_range(universe.resolve(symbol).calendar, start, end)
    ]
    figures = load_partitions_from_s3(s3, postgres, parts, run_id="rebuild")
    refresh_rollups(postgres, parts)
    if redis is not None:
        figures.update(publish_symbols(postgres, redis, chosen, DEFAULT_BARS))
    return figures
