"""Asset families (core/families.py): grains, starts, expansion of a key to sessions, and the
key counts docs/DESIGN.md quotes for the scale scenario."""

from __future__ import annotations

import datetime as dt

import pytest

from market_assets.core import settings
from market_assets.core.calendars import sessions_in_range
from market_assets.core.families import (
    DAILY,
    DAILY_SYMBOLS_PARTITIONS,
    INTRADAY,
    DateGrain,
    FamilyError,
    daily_family,
    family_for,
    intraday_family,
)
from market_assets.core.partition_keys import FIRST_SESSION, SYMBOLS_PARTITIONS, BarPartition
from market_assets.core.storage_layout import object_key_for, period_object_key
from market_assets.core.timeframes import Timeframe
from market_assets.core.universe import default_universe


def test_every_base_has_exactly_one_family() -> None:
    for tf in Timeframe:
        assert sum(f.carries(tf) for f in (intraday_family(), daily_family())) == 1
        expected = INTRADAY if tf.is_intraday else DAILY
        assert family_for(tf).name == expected


def test_intraday_keeps_todays_partitions() -> None:
    fam = intraday_family()
    assert (fam.grain, fam.start_key, fam.symbols_set) == (
        DateGrain.DAY,
        FIRST_SESSION,
        SYMBOLS_PARTITIONS,
    )
    assert fam.partition_key("2024-01-05", "7203") == "2024-01-05|7203"


def test_daily_defaults() -> None:
    fam = daily_family()
    assert (fam.grain, fam.start_key, fam.symbols_set) == (
        DateGrain.YEAR,
        "2000",
        DAILY_SYMBOLS_PARTITIONS,
    )
    assert fam.grain.fmt == "%Y" and fam.grain.cron == "0 0 1 1 *"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (settings.INTRADAY_START, "2020/01/01", "ISO date"),
        (settings.DAILY_START, "1899-01-01", "on or after"),
        (settings.DAILY_START, "2999-01-01", "future"),
    ],
)
def test_starts_are_validated(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(FamilyError, match=message) as err:
        intraday_family() if name == settings.INTRADAY_START else daily_family()
    assert name in str(err.value)


def test_starts_are_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.INTRADAY_START, "2024-01-01")
    monkeypatch.setenv(settings.DAILY_START, "2008-05-07")
    assert intraday_family().start_key == "2024-01-01"
    assert daily_family().start_key == "2008"
    # sessions before the start are not in the family, even inside its first year
    assert daily_family().sessions("2008", "XTKS")[0] == dt.date(2008, 5, 7)


def test_year_key_expands_to_the_years_sessions() -> None:
    fam = daily_family()
    parts = fam.expand("2004|AAPL", "XNYS")
    assert parts == [
        BarPartition(d, "AAPL") for d in sessions_in_range("XNYS", "2004-01-01", "2004-12-31")
    ]
    assert len(parts) == 252
    assert parts[0].session_date == dt.date(2004, 1, 2)


def test_partitions_before_listing_or_calendar_are_empty_not_errors() -> None:
    fam = daily_family()
    assert fam.expand("2004|AAPL", "XNYS", listed=dt.date(2005, 3, 1)) == []
    listed = fam.expand("2005|AAPL", "XNYS", listed=dt.date(2005, 3, 1))
    assert listed[0].session_date == dt.date(2005, 3, 1)
    assert fam.sessions("2040", "XNYS") == []  # past the calendar's bounds


@pytest.mark.parametrize("key", ["04", "2004-01", "abcd", "2004|"])
def test_bad_keys_name_the_key(key: str) -> None:
    with pytest.raises((FamilyError, ValueError)):
        daily_family().expand(key if "|" in key else f"{key}|AAPL", "XNYS")


def test_month_grain_periods() -> None:
    assert DateGrain.MONTH.period("2024-02") == (dt.date(2024, 2, 1), dt.date(2024, 2, 29))
    with pytest.raises(FamilyError):
        DateGrain.MONTH.period("2024-2")
    assert DateGrain.MONTH.count(dt.date(2018, 1, 1), dt.date(2026, 12, 1)) == 108


def test_instruments_belong_to_the_family_of_their_base() -> None:
    for inst in default_universe():
        assert inst.family.carries(inst.base_timeframe)


def test_scale_scenario_arithmetic() -> None:
    """The figures of docs/DESIGN.md "Asset families", on 2026-12-01."""
    today = dt.date(2026, 12, 1)
    daily = daily_family()
    assert daily.keys(4_400, today) == 118_800  # default start 2000: 27 years
    assert daily.keys_per_symbol(today) == 27
    assert DateGrain.YEAR.count(dt.date(2008, 1, 1), today) * 4_400 == 83_600
    assert intraday_family().keys(108, today) == 108 * 2_527
    assert DateGrain.DAY.count(dt.date(2018, 1, 1), today) * 108 == 351_756


def test_a_runs_keys_expand_clipped_to_the_current_year_and_sorted() -> None:
    """What the family assets take (core.listing.clip_periods): the run's keys as sorted
    sessions, up to `until`, a symbol listed after the period contributing none."""
    from market_assets.core.listing import clip_periods
    from market_assets.core.universe import Instrument

    instruments = {
        "AAPL": Instrument("AAPL", "equity", "XNYS", "USD", 100.0, 0.01, base_timeframe="D1"),
        "ZZZ": Instrument(
            "ZZZ",
            "equity",
            "XTKS",
            "JPY",
            100.0,
            1.0,
            base_timeframe="D1",
            listed=dt.date(2005, 1, 1),
        ),
    }
    fam = daily_family()
    parts = clip_periods(
        fam,
        ["2004|AAPL", "2003|AAPL", "2004|ZZZ"],
        instruments.__getitem__,
        until=dt.date(2004, 1, 31),
    ).parts
    assert parts == sorted(parts)
    assert {p.symbol for p in parts} == {"AAPL"}  # ZZZ listed in 2005: skipped, not failed
    assert parts[-1].session_date == dt.date(2004, 1, 30)
    assert {fam.key_of(p) for p in parts} == {"2003|AAPL", "2004|AAPL"}


def test_object_layout_per_family() -> None:
    day = dt.date(2004, 3, 1)
    assert (
        object_key_for(intraday_family(), "M1", day, "7203")
        == "ohlcv/timeframe=M1/date=2004-03-01/symbol=7203/bars.parquet"
    )
    assert (
        object_key_for(daily_family(), "D1", day, "AAPL")
        == "ohlcv/timeframe=D1/year=2004/symbol=AAPL/bars.parquet"
    )
    with pytest.raises(ValueError):
        period_object_key("D1", DateGrain.DAY, "2004-03-01", "AAPL")
