"""Reading bars of any timeframe from the database (base table, rollups, calendar views).

Every timeframe maps to one relation with the same reading columns (ts, open, high, low,
close, volume); the relation name comes from this allow-list, never from input.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from market_assets.core.identifiers import validate_symbol
from market_assets.core.timeframes import Timeframe
from resources.queries import query

RELATIONS: dict[Timeframe, str] = {
    Timeframe.M1: "ohlcv_bars",
    Timeframe.M5: "ohlcv_m5",
    Timeframe.M15: "ohlcv_m15",
    Timeframe.M30: "ohlcv_m30",
    Timeframe.H1: "ohlcv_h1",
    Timeframe.H4: "ohlcv_h4",
    Timeframe.D1: "ohlcv_d1",
    Timeframe.W1: "ohlcv_w1",
    Timeframe.MN1: "ohlcv_mn1",
}
READ_COLUMNS = ["ts", "open", "high", "low", "close", "volume"]
FAR_PAST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
FAR_FUTURE = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)


def _statement(timeframe: Timeframe) -> sql.Composed:
    relation = RELATIONS[timeframe]
    filt = sql.SQL("AND timeframe = %(timeframe)s") if timeframe is Timeframe.M1 else sql.SQL("")
    return sql.SQL(query("read/bars_columns")).format(
        relation=sql.Identifier(relation), timeframe_filter=filt
    )


# PostgreSQL timestamps count microseconds from 2000-01-01 UTC.
_PG_EPOCH_US = 946_684_800_000_000
_INDEX_DTYPE = pd.DatetimeTZDtype("ns", "UTC")
_COLUMNS = pd.Index(READ_COLUMNS[1:])


def read_bars(
    conn: psycopg.Connection,
    symbol: str,
    timeframe: Timeframe | str,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    last_n: int | None = None,
) -> pd.DataFrame:
    """Bars in chronological order, indexed by UTC opening time.

    The server packs each column into one bytea (read/bars_columns.sql), so the frame is
    built from six numpy buffers: turning 1,000 rows into Python datetimes and floats and
    then into a DataFrame cost more than the query itself.
    """
    tf = Timeframe.parse(timeframe)
    params = {
        "symbol": validate_symbol(symbol),
        "timeframe": str(tf),
        "start": start or FAR_PAST,
        "end": end or FAR_FUTURE,
        "limit": last_n if last_n is not None else 10_000_000,
    }
    row = conn.execute(_statement(tf), params, prepare=True).fetchone()
    n = int(row[0]) if row else 0
    if n == 0:
        values = np.empty((0, len(_COLUMNS)), dtype="float64")
        index = pd.DatetimeIndex([], dtype=_INDEX_DTYPE, name="ts")
        return pd.DataFrame(values, index=index, columns=_COLUMNS)
    assert row is not None
    micros = np.frombuffer(row[1], dtype=">i8").astype(np.int64)
    index = pd.DatetimeIndex(
        ((micros + _PG_EPOCH_US) * 1000).view("datetime64[ns]"), dtype=_INDEX_DTYPE, name="ts"
    )
    values = np.empty((n, len(_COLUMNS)), dtype="float64")
    for i, raw in enumerate(row[2:]):
        values[:, i] = np.frombuffer(raw, dtype=">f8")
    return pd.DataFrame(values, index=index, columns=_COLUMNS, copy=False)
