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
