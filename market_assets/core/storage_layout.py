"""Where each partition lives in S3: one object per partition in a hive layout.

`ohlcv/timeframe=M1/date=2024-01-05/symbol=7203/bars.parquet`: the fixed file name makes a
re-materialisation overwrite the partition in one PUT instead of adding a second file, and
the hive keys let pyarrow datasets prune by timeframe, date and symbol.

A family whose date grain is coarser than a day keeps one object per partition too, named by
its period: `ohlcv/timeframe=D1/year=2004/symbol=AAPL/bars.parquet` holds the symbol's D1 bars
of 2004 (a run rewrites the whole year). `object_key_for` picks the layout from the family.
"""

from __future__ import annotations

import datetime as dt

from market_assets.core.families import DateGrain, Family
from market_assets.core.identifiers import validate_symbol

RAW_PREFIX = "ohlcv"
FILE_NAME = "bars.parquet"


def partition_prefix(timeframe: str, session_date: dt.date, symbol: str) -> str:
    return (
        f"{RAW_PREFIX}/timeframe={validate_symbol(timeframe)}/date={session_date.isoformat()}"
        f"/symbol={validate_symbol(symbol)}/"
    )


def raw_object_key(timeframe: str, session_date: dt.date, symbol: str) -> str:
    return partition_prefix(timeframe, session_date, symbol) + FILE_NAME


_PERIOD_FIELD = {DateGrain.MONTH: "month", DateGrain.YEAR: "year"}


def period_object_key(timeframe: str, grain: DateGrain, date_key: str, symbol: str) -> str:
    """The object of one period partition (month or year) of one symbol."""
    if grain is DateGrain.DAY:
        raise ValueError("a day partition's object is raw_object_key's")
    grain.period(date_key)  # validates the key
    return (
        f"{RAW_PREFIX}/timeframe={validate_symbol(timeframe)}/{_PERIOD_FIELD[grain]}={date_key}"
        f"/symbol={validate_symbol(symbol)}/{FILE_NAME}"
    )


def object_key_for(family: Family, timeframe: str, session_date: dt.date, symbol: str) -> str:
    """The object holding a session's bars of a symbol in a family: one per session for day
    grain (the layout of the intraday family, unchanged), one per period otherwise."""
    if family.grain is DateGrain.DAY:
        return raw_object_key(timeframe, session_date, symbol)
    return period_object_key(timeframe, family.grain, family.date_key(session_date), symbol)
