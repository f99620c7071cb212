"""Restore the database and Redis from S3, the system of record, without calling any source."""

from __future__ import annotations

import datetime as dt

from market_assets.core.calendars import sessions_in_range
from market_assets.core.partition_keys import BarPartition
from market_assets.core.universe import default_universe
from market_assets.ohlcv.load import load_partitions_from_s3
from market_assets.ohlcv.publish import publish_symbols
from market_assets.ohlcv.rollups import refresh_rollups
from market_assets.ohlcv.snapshots import DEFAULT_BARS
from market_assets.operations.progress import ProgressFn, Step, report
from resources.postgres import PostgresResource
from resources.redis import RedisResource
from resources.s3 import S3Resource


def rebuild(
    s3: S3Resource,
    postgres: PostgresResource,
    redis: RedisResource | None,
    start: dt.date,
    end: dt.date,
    chosen: list[str],
    progress: ProgressFn | None = None,
) -> dict[str, int]:
    """Database rows, rollups and snapshots of the range restored from S3.

    Loaded one symbol at a time (one transaction each; a rebuild is idempotent, so an
    interrupted one is simply run again), so `progress` gets the total first, then a step per
    symbol: its partitions and rows."""
    universe = default_universe()
    by_symbol = {
        symbol: [
            BarPartition(day, symbol)
            for day in sessions_in_range(universe.resolve(symbol).calendar, start, end)
        ]
        for symbol in chosen
    }
    parts = [p for symbol_parts in by_symbol.values() for p in symbol_parts]
    figures: dict[str, int] = {}
    report(progress, Step(f"{len(by_symbol)} symbols", 0, len(parts), 0))  # the total, at once
    for symbol, symbol_parts in by_symbol.items():
        if not symbol_parts:
            report(progress, Step(symbol, 0, len(parts), 0))
            continue
        loaded = load_partitions_from_s3(s3, postgres, symbol_parts, run_id="rebuild")
        for key, value in loaded.items():
            figures[key] = figures.get(key, 0) + int(value)
        report(progress, Step(symbol, len(symbol_parts), len(parts), int(loaded.get("rows", 0))))
    refresh_rollups(postgres, parts)
    if redis is not None:
        figures.update(publish_symbols(postgres, redis, chosen, DEFAULT_BARS))
    return figures
