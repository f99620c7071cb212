"""Redis snapshots of the latest bars: encoding, TTL and publishing.

A snapshot is an Arrow IPC stream compressed with lz4 (about 51 KB for 2,000 M1 bars, decoded
in a fraction of a millisecond), so the UTC index and dtypes survive exactly. Its TTL runs to
the next close of the symbol's market plus a margin: by then a newer snapshot replaces it, and
a stale one cannot outlive a missed update by long.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from market_assets.calendars import next_close
from resources.cache_keys import snapshot_info_key, snapshot_key
from resources.redis import RedisResource

DEFAULT_BARS = 2000
TTL_MARGIN = dt.timedelta(hours=1)
MIN_TTL_S = 60
_IPC_OPTIONS = pa.ipc.IpcWriteOptions(compression="lz4")


def encode(frame: pd.DataFrame) -> bytes:
    table = pa.Table.from_pandas(frame, preserve_index=True)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=_IPC_OPTIONS) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def decode(payload: bytes) -> pd.DataFrame:
    return pa.ipc.open_stream(payload).read_all().to_pandas()


def snapshot_ttl_s(calendar: str, now: dt.datetime | None = None) -> int:
    now = now or dt.datetime.now(dt.UTC)
    close = next_close(calendar, pd.Timestamp(now))
    return max(MIN_TTL_S, int((close.to_pydatetime() - now + TTL_MARGIN).total_seconds()))


@dataclass(frozen=True)
class PublishedSnapshot:
    key: str
    bars: int
    bytes: int
    ttl_s: int


def publish_snapshot(
    redis: RedisResource,
    symbol: str,
    timeframe: str,
    frame: pd.DataFrame,
    calendar: str,
    now: dt.datetime | None = None,
) -> PublishedSnapshot:
    """Swap in a symbol/timeframe snapshot and its info key atomically."""
    payload = encode(frame)
    ttl = snapshot_ttl_s(calendar, now)
    key = snapshot_key(symbol, timeframe, redis.key_prefix)
    info = {
        "bars": len(frame),
        "first": frame.index.min().isoformat() if len(frame) else None,
        "last": frame.index.max().isoformat() if len(frame) else None,
        "updated_at": (now or dt.datetime.now(dt.UTC)).isoformat(),
        "format": "arrow-ipc-lz4",
    }
    redis.put_snapshot(
        key, payload, snapshot_info_key(symbol, timeframe, redis.key_prefix), info, ttl
    )
    return PublishedSnapshot(key=key, bars=len(frame), bytes=len(payload), ttl_s=ttl)
