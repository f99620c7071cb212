"""date x symbol partition keys of the OHLCV assets, as plain values.

The date key is the trading session's date in the symbol's exchange calendar, so one partition
is one session (an FX session dated D runs from 17:00 New York on D-1 to 17:00 on D). Symbols
are the keys of the dynamic partitions set named `SYMBOLS_PARTITIONS`, registered by the
company-master sync and from the universe file. The Dagster definitions built on these values
are in market_assets/defs/ohlcv/partitions.py; services need only the keys, so they live here.

Multi-partition keys join dimension values in alphabetical order of dimension names, so a key
reads `2024-01-05|7203`. A Dagster `MultiPartitionKey` is a `str` with that value, so every
function here accepts one.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from market_assets.core.identifiers import validate_symbol

FIRST_SESSION = "2020-01-01"
DATE_DIM = "date"
SYMBOL_DIM = "symbol"
SYMBOLS_PARTITIONS = "symbols"  # the dynamic partitions set of the symbol dimension


@dataclass(frozen=True, order=True)
class BarPartition:
    """One session of one symbol, parsed and validated from a partition key."""

    session_date: dt.date
    symbol: str

    @property
    def key(self) -> str:
        return partition_key(self.session_date, self.symbol)


def partition_key(session_date: dt.date | str, symbol: str) -> str:
    """The multi-partition key of a session and symbol (`date|symbol`), symbol validated."""
    date_key = session_date if isinstance(session_date, str) else session_date.isoformat()
    return f"{date_key}|{validate_symbol(symbol)}"


def parse_partition(key: str) -> BarPartition:
    date_key, symbol = str(key).split("|", 1)  # alphabetical: date first
    return BarPartition(dt.date.fromisoformat(date_key), validate_symbol(symbol))


def parse_partitions(keys: Iterable[str]) -> list[BarPartition]:
    return sorted({parse_partition(k) for k in keys})


def dates_by_symbol(parts: Sequence[BarPartition]) -> dict[str, list[dt.date]]:
    grouped: dict[str, list[dt.date]] = defaultdict(list)
    for part in parts:
        grouped[part.symbol].append(part.session_date)
    return {s: sorted(d) for s, d in sorted(grouped.items())}
