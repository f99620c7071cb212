"""get_ohlcv(): bars read through the chain Redis -> database -> S3, raw or adjusted.

The process-wide reader is built from the environment on first use (reader role for the
database); the chain itself is market_assets/read/reader.py, the adjusted view
market_assets/read/adjusted.py.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from market_assets.core.timeframes import Timeframe
from market_assets.read.adjusted import read_adjusted
from market_assets.read.reader import BarReader, ReadStats, as_utc

_default_reader: BarReader | None = None


def get_ohlcv(
    symbol: str,
    timeframe: Timeframe | str,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    last_n: int | None = None,
    adjusted: bool = False,
) -> pd.DataFrame:
    """Bars indexed by UTC opening time; `frame.attrs["layer"]` names the store that answered.

    Prices are raw as delivered unless `adjusted` (splits and dividends applied from the
    vendors' events; market_assets/core/adjustments.py). Stores come from the environment (reader
    role for the database); see README.

    A store that fails is skipped with a logged warning and counted in `read_stats()`
    (`skipped_redis`, `skipped_postgres`, `skipped_s3`). When every store tried failed, this
    raises `ReadUnavailableError` naming each store and why: an empty frame always means the
    stores answered and hold no rows for the request.
    """
    global _default_reader
    if _default_reader is None:
        _default_reader = BarReader.from_env()
    if adjusted:
        tf = Timeframe.parse(timeframe)
        return read_adjusted(_default_reader, symbol, tf, as_utc(start), as_utc(end), last_n)
    return _default_reader.get(symbol, timeframe, start, end, last_n)


def read_stats() -> dict[str, float | int]:
    return _default_reader.stats.as_dict() if _default_reader else ReadStats().as_dict()
