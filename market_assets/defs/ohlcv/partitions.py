"""The Dagster partitions of the OHLCV asset families: date keys x registered symbols.

Each family (market_assets/core/families.py) has its own definition: the intraday family's
dates are daily partitions, the daily family's are years (`TimeWindowPartitionsDefinition`
with a yearly cron and fmt `%Y`; Dagster has no yearly class). Both use `end_offset=1`: the
session that closes today (the year in progress) is a valid partition as soon as its market
closes, without waiting for midnight UTC. Symbols are dynamic partitions, one set per family.
The key values (starts, dimension names, parsing) are plain rules in market_assets/core/.
"""

from dagster import (
    DailyPartitionsDefinition,
    DynamicPartitionsDefinition,
    MultiPartitionsDefinition,
    PartitionsDefinition,
    TimeWindowPartitionsDefinition,
)

from market_assets.core.families import DateGrain, Family, daily_family, intraday_family
from market_assets.core.partition_keys import DATE_DIM, SYMBOL_DIM

INTRADAY_FAMILY = intraday_family()
DAILY_FAMILY = daily_family()


def date_partitions(family: Family) -> PartitionsDefinition:
    """The date dimension of a family: its grain's windows from its start, UTC."""
    if family.grain is DateGrain.DAY:  # the class the intraday assets always had
        return DailyPartitionsDefinition(start_date=family.start_key, end_offset=1, timezone="UTC")
    return TimeWindowPartitionsDefinition(
        cron_schedule=family.grain.cron,
        start=family.start_key,
        fmt=family.grain.fmt,
        end_offset=1,
        timezone="UTC",
    )


def family_partitions(
    family: Family, symbols_def: DynamicPartitionsDefinition | None = None
) -> MultiPartitionsDefinition:
    symbols_def = symbols_def or DynamicPartitionsDefinition(name=family.symbols_set)
    return MultiPartitionsDefinition({DATE_DIM: date_partitions(family), SYMBOL_DIM: symbols_def})


symbols = DynamicPartitionsDefinition(name=INTRADAY_FAMILY.symbols_set)
bar_partitions = family_partitions(INTRADAY_FAMILY, symbols)
session_dates = date_partitions(INTRADAY_FAMILY)
daily_symbols = DynamicPartitionsDefinition(name=DAILY_FAMILY.symbols_set)
daily_bar_partitions = family_partitions(DAILY_FAMILY, daily_symbols)
PARTITIONS_BY_FAMILY = {
    INTRADAY_FAMILY.name: bar_partitions,
    DAILY_FAMILY.name: daily_bar_partitions,
}
