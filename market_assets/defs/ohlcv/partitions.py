"""The Dagster partitions of the OHLCV asset families: date keys x registered symbols.

Each family (market_assets/core/families.py) has its own definition: the intraday family's
dates are daily partitions, the daily family's are years (`TimeWindowPartitionsDefinition`
with a yearly cron and fmt `%Y`; Dagster has no yearly class). Both use `end_offset=1`: the
session that closes today (the year in progress) is a valid partition as soon as its market
closes, without waiting for midnight UTC. Symbols are dynamic partitions, one set per family.
The key values (starts, dimension names, parsing) are plain rules in market_assets/core/.

Families declared in the universe file (`DECLARED_FAMILIES`) get theirs the same way; a
weekdays family's dates are a `0 0 * * 1-5` cron, and a family pinned to a calendar lists that
calendar's weekday holidays as the definition's `exclusions` (datetimes at midnight UTC).
"""

import datetime as dt

from dagster import (
    DailyPartitionsDefinition,
    DynamicPartitionsDefinition,
    MultiPartitionsDefinition,
    PartitionsDefinition,
    TimeWindowPartitionsDefinition,
)

from market_assets.core.families import (
    DateGrain,
    DayKeys,
    Family,
    daily_family,
    intraday_family,
)
from market_assets.core.partition_keys import DATE_DIM, SYMBOL_DIM
from market_assets.core.universe import default_universe

INTRADAY_FAMILY = intraday_family()
DAILY_FAMILY = daily_family()


def date_partitions(family: Family) -> PartitionsDefinition:
    """The date dimension of a family: its grain's windows from its start, UTC."""
    if family.grain is DateGrain.DAY and family.days is DayKeys.ALL:  # the intraday class
        return DailyPartitionsDefinition(start_date=family.start_key, end_offset=1, timezone="UTC")
    exclusions = [dt.datetime(d.year, d.month, d.day) for d in family.excluded_days()]
    return TimeWindowPartitionsDefinition(
        cron_schedule=family.cron,
        start=family.start_key,
        fmt=family.grain.fmt,
        end_offset=1,
        timezone="UTC",
        exclusions=exclusions or None,
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
DECLARED_FAMILIES: tuple[Family, ...] = default_universe().families
PARTITIONS_BY_FAMILY = {
    INTRADAY_FAMILY.name: bar_partitions,
    DAILY_FAMILY.name: daily_bar_partitions,
    **{f.name: family_partitions(f) for f in DECLARED_FAMILIES},
}
