"""Redis snapshots of the latest bars: encoding, TTL and publishing.

A snapshot is an Arrow IPC stream compressed with lz4 (about 51 KB for 2,000 M1 bars, decoded
in a fraction of a millisecond), so the UTC index and dtypes survive exactly. Its TTL runs to
the next close of the symbol's market plus a margin: by then a newer snapshot replaces it, and
a stale one cannot outlive a missed update by long.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from market_assets.core.calendars import next_close
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


def decode(payload: bytes, last_n: int | None = None) -> pd.DataFrame:
    """The snapshot's frame, or only its last `last_n` bars.

    Slicing happens on the Arrow table, before any pandas object exists, and a bar snapshot
    (a UTC `ts` index and float64 columns, which is what `publish_snapshot` stores) is built
    directly from its buffers: `Table.to_pandas()` reconstructs the frame from the pandas
    metadata generically, which cost 0.85 ms of a 2 ms "latest 1000 bars" read. Anything else
    falls back to `to_pandas()`, so the frame is the same either way.
    """
    table = pa.ipc.open_stream(payload).read_all()
    if last_n is not None:
        table = table.slice(max(0, table.num_rows - last_n)) if last_n > 0 else table.slice(0, 0)
    frame = _bar_frame(table)
    return frame if frame is not None else table.to_pandas()


_COLUMN_INDEXES: dict[tuple[str, ...], pd.Index] = {}
_BAR_LAYOUTS: dict[bytes, bool] = {}


def _is_bar_layout(schema: pa.Schema) -> bool:
    """A `ts` UTC timestamp index after float64 columns, as `publish_snapshot` writes them.

    Cached by the pandas metadata's bytes: parsing that JSON on every read cost more than
    slicing the table.
    """
    raw = (schema.metadata or {}).get(b"pandas", b"")
    known = _BAR_LAYOUTS.get(raw)
    if known is not None:
        return known
    meta = schema.pandas_metadata or {}
    ts_type = schema.field("ts").type if "ts" in schema.names else None
    ok = (
        meta.get("index_columns") == ["ts"]
        and schema.names[-1] == "ts"
        and ts_type is not None
        and pa.types.is_timestamp(ts_type)
        and ts_type.tz in ("UTC", "+00:00")
        and len(schema.names) > 1
        and all(schema.field(n).type == pa.float64() for n in schema.names[:-1])
    )
    if len(_BAR_LAYOUTS) < 64:
        _BAR_LAYOUTS[raw] = ok
    return ok


def _utc_index(values: np.ndarray, unit: str) -> pd.DatetimeIndex:
    """A UTC DatetimeIndex over `values` (datetime64[unit]) without re-validating them.

    The public constructor checks and converts 1,000 timestamps that Arrow already holds in
    the right unit (~0.1 ms, a tenth of the whole read); pandas' `_simple_new` wraps them as
    they are. Should a pandas version drop it, the public constructor gives the same index.
    """
    dtype = pd.DatetimeTZDtype(unit, "UTC")
    try:
        array = pd.arrays.DatetimeArray._simple_new(values, dtype=dtype)
        return pd.DatetimeIndex._simple_new(array, name="ts")
    except (AttributeError, TypeError):  # pragma: no cover - depends on the pandas version
        return pd.DatetimeIndex(values, dtype=dtype, name="ts")


def _bar_frame(table: pa.Table) -> pd.DataFrame | None:
    if table.num_rows == 0 or not _is_bar_layout(table.schema):
        return None
    if any(c.null_count for c in table.columns):
        return None  # rare shapes take the generic path
    if any(c.num_chunks != 1 for c in table.columns):
        table = table.combine_chunks()
    names = tuple(table.schema.names[:-1])
    ts = table.column(len(names)).chunk(0)
    index = _utc_index(ts.to_numpy(zero_copy_only=False), ts.type.unit)
    values = np.column_stack([table.column(i).chunk(0).to_numpy() for i in range(len(names))])
    columns = _COLUMN_INDEXES.get(names)
    if columns is None:
        columns = _COLUMN_INDEXES.setdefault(names, pd.Index(list(names)))
    return pd.DataFrame(values, index=index, columns=columns, copy=False)


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
