"""The Dagster partitions of each family match core/families.py's rules."""

from __future__ import annotations

import datetime as dt

from dagster import DailyPartitionsDefinition, MultiPartitionKey

from market_assets.core.families import DateGrain
from market_assets.defs.ohlcv.partitions import (
    DAILY_FAMILY,
    INTRADAY_FAMILY,
    bar_partitions,
    daily_bar_partitions,
    date_partitions,
)


def test_intraday_dates_are_the_daily_partitions_they_always_were() -> None:
    dates = date_partitions(INTRADAY_FAMILY)
    assert isinstance(dates, DailyPartitionsDefinition)
    assert dates == DailyPartitionsDefinition(start_date="2020-01-01", end_offset=1, timezone="UTC")


def test_daily_dates_are_years_from_2000_to_the_current_year() -> None:
    keys = date_partitions(DAILY_FAMILY).get_partition_keys()
    assert keys[0] == "2000" and keys[-1] == str(dt.datetime.now(dt.UTC).year)
    assert len(keys) == DAILY_FAMILY.keys_per_symbol(dt.datetime.now(dt.UTC).date())
    assert DAILY_FAMILY.grain is DateGrain.YEAR


def test_keys_read_as_the_family_writes_them() -> None:
    key = MultiPartitionKey({"date": "2004", "symbol": "AAPL"})
    assert str(key) == DAILY_FAMILY.partition_key("2004", "AAPL") == "2004|AAPL"
    assert daily_bar_partitions.partitions_defs[1].partitions_def.name == "daily_symbols"
    assert bar_partitions.partitions_defs[1].partitions_def.name == "symbols"
