"""The Dagster partitions of the OHLCV assets: session dates x registered symbols.

Dates are daily partitions with `end_offset=1`: the session that closes today is a valid
partition as soon as its market closes, without waiting for midnight UTC. Symbols are dynamic
partitions. The key values (first session, dimension names, parsing) are plain rules in
market_assets/core/partition_keys.py.
"""

from dagster import (
    DailyPartitionsDefinition,
    DynamicPartitionsDefinition,
    MultiPartitionsDefinition,
)

from market_assets.core.partition_keys import (
    DATE_DIM,
    FIRST_SESSION,
    SYMBOL_DIM,
    SYMBOLS_PARTITIONS,
)

session_dates = DailyPartitionsDefinition(start_date=FIRST_SESSION, end_offset=1, timezone="UTC")
symbols = DynamicPartitionsDefinition(name=SYMBOLS_PARTITIONS)
bar_partitions = MultiPartitionsDefinition({DATE_DIM: session_dates, SYMBOL_DIM: symbols})
