"""What "converged" means after faults and concurrent runs: every store holds the source's rows.

For each partition the expected rows are the source's bars that pass the row rules (exactly
what raw_bars writes). S3 and the database must hold those rows, no more and no fewer, with
the same checksum (`frame_checksum` is order- and storage-independent).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import psycopg

from market_assets.core.bars import frame_checksum, from_arrow
from market_assets.core.partition_keys import BarPartition
from market_assets.core.row_rules import apply_row_rules
from market_assets.core.storage_layout import raw_object_key
from market_assets.core.universe import default_universe
from resources.postgres import PostgresResource
from resources.s3 import S3Resource
from resources.sources.base import BarSource
from resources.sources.generator import GeneratorSource

_DB_ROWS = (
    "SELECT symbol, timeframe, ts, session_date, open, high, low, close, volume, adj_factor,"
    " source FROM ohlcv_bars WHERE symbol = %s AND session_date = %s ORDER BY ts"
)


@dataclass(frozen=True)
class PartitionState:
    rows: int
    distinct_ts: int
    checksum: str


def expected_state(part: BarPartition, source: BarSource | None = None) -> PartitionState:
    inst = default_universe().resolve(part.symbol)
    frame = (source or GeneratorSource()).fetch_many([inst], [part.session_date])
    passed = apply_row_rules(frame, inst, part.session_date).passed
    return PartitionState(len(passed), passed["ts"].nunique(), frame_checksum(passed))


def s3_state(s3: S3Resource, part: BarPartition) -> PartitionState:
    inst = default_universe().resolve(part.symbol)
    key = raw_object_key(str(inst.base_timeframe), part.session_date, part.symbol)
    frame = from_arrow(s3.read_parquet(key))
    return PartitionState(len(frame), frame["ts"].nunique(), frame_checksum(frame))


def stored_bars(conn: psycopg.Connection, symbol: str, day: dt.date) -> pd.DataFrame:
    """One partition's rows in ohlcv_bars, in time order, `ts` as UTC timestamps."""
    cur = conn.execute(_DB_ROWS, (symbol, day))
    frame = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description or []])
    if not frame.empty:
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def db_state(postgres: PostgresResource, part: BarPartition) -> PartitionState:
    with postgres.connection() as conn:
        frame = stored_bars(conn, part.symbol, part.session_date)
    if frame.empty:
        return PartitionState(0, 0, "")
    return PartitionState(len(frame), frame["ts"].nunique(), frame_checksum(frame))


def divergent_partitions(
    s3: S3Resource, postgres: PostgresResource, parts: list[BarPartition]
) -> dict[str, tuple[PartitionState, PartitionState, PartitionState]]:
    """Partitions whose S3 or database rows differ from the source: {key: (src, s3, db)}."""
    out = {}
    for part in parts:
        want, in_s3, in_db = expected_state(part), s3_state(s3, part), db_state(postgres, part)
        if not (want == in_s3 == in_db) or want.rows != want.distinct_ts:
            out[str(part.key)] = (want, in_s3, in_db)
    return out


def sessions(days: list[dt.date], symbols: list[str]) -> list[BarPartition]:
    return [BarPartition(d, s) for d in days for s in symbols]
