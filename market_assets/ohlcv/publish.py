"""Publishing snapshots: each symbol's latest bars of every timeframe, from the database to
Redis.

One snapshot per symbol and timeframe, whatever the number of partitions in the run: a batch of
a year of one symbol publishes nine snapshots, not 365 x 9. Only the timeframes the symbol's
base can give are published (its base and coarser): a finer one has no bars to cache.
"""

from __future__ import annotations

from market_assets.core.universe import default_universe
from market_assets.ohlcv.bar_reads import read_bars, readable_timeframes
from market_assets.ohlcv.snapshots import publish_snapshot
from resources.postgres import PostgresResource
from resources.redis import RedisResource


def publish_symbols(
    postgres: PostgresResource, redis: RedisResource, symbols: list[str], bars: int
) -> dict[str, int]:
    universe = default_universe()
    published = total_bytes = 0
    for symbol, inst in universe.known(symbols).items():
        calendar = inst.calendar
        with postgres.connection() as conn:
            base = inst.base_timeframe
            frames = {
                tf: read_bars(conn, symbol, tf, last_n=bars, base=base)
                for tf in readable_timeframes(base)
            }
            conn.rollback()
        for tf, frame in frames.items():
            snap = publish_snapshot(redis, symbol, str(tf), frame, calendar)
            published += 1
            total_bytes += snap.bytes
    return {"snapshots": published, "bytes": total_bytes, "symbols": len(symbols)}
