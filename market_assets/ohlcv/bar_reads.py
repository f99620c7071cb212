"""Reading bars of any timeframe from the database (base table, rollups, calendar views).

Every timeframe maps to one relation with the same reading columns (ts, open, high, low,
close, volume); the relation name comes from this allow-list, never from input. Which one
depends on the symbol's base timeframe: the base itself is read from `ohlcv_bars` (its own
bars, as delivered), a coarser timeframe from its rollup, and a finer one is refused with a
ValueError, never answered with bars of another grain. A W1 base cannot give MN1 (weeks
straddle months).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from market_assets.core.identifiers import validate_symbol
from market_assets.core.timeframes import ALL_TIMEFRAMES, Timeframe
from market_assets.core.universe import default_universe
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


BASE_RELATION = RELATIONS[Timeframe.M1]


class TimeframeUnavailableError(ValueError):
    """The timeframe cannot be built from the symbol's base (finer, or MN1 of a W1 base)."""


def base_of(symbol: str) -> Timeframe:
    """The symbol's base timeframe in the universe; M1 for a symbol it does not know (such a
    symbol has no bars to read)."""
    try:
        return default_universe().resolve(symbol).base_timeframe
    except LookupError:
        return Timeframe.M1


def relation_for(symbol: str, base: Timeframe, timeframe: Timeframe) -> str:
    """The relation that holds `timeframe` bars of a symbol whose base is `base`."""
    if timeframe is base:
        return BASE_RELATION
    if ALL_TIMEFRAMES.index(timeframe) < ALL_TIMEFRAMES.index(base):
        raise TimeframeUnavailableError(
            f"{symbol} has base timeframe {base}: {timeframe} is finer than its bars; "
            f"read {base} or a coarser timeframe"
        )
    if base is Timeframe.W1 and timeframe is Timeframe.MN1:
        raise TimeframeUnavailableError(
            f"{symbol} has base timeframe W1: MN1 cannot be built from weeks (a week may "
            "straddle two months); read W1, or give the symbol a D1 or finer base"
        )
    return RELATIONS[timeframe]


def readable_timeframes(base: Timeframe) -> tuple[Timeframe, ...]:
    """The timeframes a symbol of this base can be read in: the base and every coarser one
    (MN1 not from a W1 base)."""
    out = []
    for tf in ALL_TIMEFRAMES[ALL_TIMEFRAMES.index(base) :]:
        if not (base is Timeframe.W1 and tf is Timeframe.MN1):
            out.append(tf)
    return tuple(out)


@lru_cache(maxsize=16)
def _statement(relation: str) -> sql.Composed:
    base = relation == BASE_RELATION
    filt = sql.SQL("AND timeframe = %(timeframe)s") if base else sql.SQL("")
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
    *,
    base: Timeframe | str | None = None,
) -> pd.DataFrame:
    """Bars in chronological order, indexed by UTC opening time.

    `base` is the symbol's base timeframe (default: the universe's); see the module docs for
    which relation answers, and the ValueError for a timeframe finer than the base.

    The server packs each column into one bytea (read/bars_columns.sql), so the frame is
    built from six numpy buffers: turning 1,000 rows into Python datetimes and floats and
    then into a DataFrame cost more than the query itself.
    """
    tf = Timeframe.parse(timeframe)
    symbol = validate_symbol(symbol)
    grain = base_of(symbol) if base is None else Timeframe.parse(base)
    relation = relation_for(symbol, grain, tf)
    params = {
        "symbol": symbol,
        "timeframe": str(grain),
        "start": start or FAR_PAST,
        "end": end or FAR_FUTURE,
        "limit": last_n if last_n is not None else 10_000_000,
    }
    row = conn.execute(_statement(relation), params, prepare=True).fetchone()
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
