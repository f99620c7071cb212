"""date x symbol partitions of the OHLCV assets.

The date key is the trading session's date in the symbol's exchange calendar, so one partition
is one session (an FX session dated D runs from 17:00 New York on D-1 to 17:00 on D). Dates are
daily partitions with `end_offset=1`: the session that closes today is a valid partition as soon
as its market closes, without waiting for midnight UTC. Symbols are dynamic partitions,
registered by the company-master sync and from the universe file.

Multi-partition keys join dimension values in alphabetical order of dimension names, so a key
reads `2024-01-05|7203`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dagster import (
    DailyPartitionsDefinition,
    DynamicPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
)

from market_assets.identifiers import validate_symbol

FIRST_SESSION = "2020-01-01"
DATE_DIM = "date"
SYMBOL_DIM = "symbol"

session_dates = DailyPartitionsDefinition(start_date=FIRST_SESSION, end_offset=1, timezone="UTC")
symbols = DynamicPartitionsDefinition(name="symbols")
bar_partitions = MultiPartitionsDefinition({DATE_DIM: session_dates, SYMBOL_DIM: symbols})


@dataclass(frozen=True, order=True)
class BarPartition:
    """One session of one symbol, parsed and validated from a partition key."""

    session_date: dt.date
    symbol: str

    @property
    def key(self) -> MultiPartitionKey:
        return partition_key(self.session_date, self.symbol)


def partition_key(session_date: dt.date | str, symbol: str) -> MultiPartitionKey:
    date_key = session_date if isinstance(session_date, str) else session_date.isoformat()
    return MultiPartitionKey({DATE_DIM: date_key, SYMBOL_DIM: validate_symbol(symbol)})


def parse_partition(key: str | MultiPartitionKey) -> BarPartition:
    if isinstance(key, MultiPartitionKey):
        dims = key.keys_by_dimension
        date_key, symbol = dims[DATE_DIM], dims[SYMBOL_DIM]
    else:
        date_key, symbol = key.split("|", 1)  # alphabetical: date first
    return BarPartition(dt.date.fromisoformat(date_key), validate_symbol(symbol))


def parse_partitions(keys: Iterable[str | MultiPartitionKey]) -> list[BarPartition]:
    return sorted({parse_partition(k) for k in keys})


def dates_by_symbol(parts: Sequence[BarPartition]) -> dict[str, list[dt.date]]:
    grouped: dict[str, list[dt.date]] = defaultdict(list)
    for part in parts:
        grouped[part.symbol].append(part.session_date)
    return {s: sorted(d) for s, d in sorted(grouped.items())}
