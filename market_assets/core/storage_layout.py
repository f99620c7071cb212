"""Where each partition lives in S3: one object per partition in a hive layout.

`ohlcv/timeframe=M1/date=2024-01-05/symbol=7203/bars.parquet`: the fixed file name makes a
re-materialisation overwrite the partition in one PUT instead of adding a second file, and
the hive keys let pyarrow datasets prune by timeframe, date and symbol.
"""

from __future__ import annotations

import datetime as dt

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
