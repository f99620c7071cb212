from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market_assets.core.calendars import (
    ALWAYS_OPEN,
    FX24X5,
    CalendarError,
    calendar_bounds,
    calendar_codes,
    calendar_timezone,
    expected_minute_bars,
    is_session,
    next_close,
    next_session,
    previous_session,
    session_bounds,
    session_date_of,
    session_dates_of,
    session_windows,
    sessions_in_range,
    to_date,
)

D = dt.date


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_codes_are_fx24x5_and_every_exchange_calendar() -> None:
    codes = calendar_codes()
    assert codes[0] == FX24X5
    assert {"XTKS", "XNYS", "XLON", "XHKG", "XKRX", "XFRA", ALWAYS_OPEN} <= set(codes)


def test_unknown_calendar_names_the_code_and_the_choices() -> None:
    with pytest.raises(CalendarError, match=r"unknown calendar 'XMARS'.*exchange_calendars"):
        is_session("XMARS", D(2024, 1, 4))
    with pytest.raises(CalendarError, match="unknown calendar"):
        calendar_timezone("XMARS")


def test_any_exchange_calendar_has_its_own_zone_and_hours() -> None:
    assert calendar_timezone("XLON") == "Europe/London"
    assert calendar_timezone("XHKG") == "Asia/Hong_Kong"
    assert calendar_timezone(FX24X5) == "America/New_York"
    # London opens 08:00 local: 08:00 UTC in winter, 07:00 UTC after the clocks change.
    assert session_windows("XLON", D(2024, 3, 28)) == [
        (utc("2024-03-28 08:00"), utc("2024-03-28 16:30"))
    ]
    assert session_windows("XLON", D(2024, 4, 2)) == [
        (utc("2024-04-02 07:00"), utc("2024-04-02 15:30"))
    ]
    assert not is_session("XLON", D(2024, 3, 29))  # Good Friday
    assert is_session("XKRX", D(2024, 3, 29))


def test_each_calendar_is_built_within_its_own_bounds() -> None:
    assert calendar_bounds("XTKS") == (D(2000, 1, 1), D(2035, 12, 31))
    assert calendar_bounds("XSAU") == (D(2021, 1, 1), D(2029, 12, 31))  # exchange_calendars' rules
    with pytest.raises(CalendarError, match="outside the XSAU calendar range 2021-01-01"):
        is_session("XSAU", D(2020, 6, 1))


def test_always_open_sessions_are_utc_days_every_day() -> None:
    assert calendar_timezone(ALWAYS_OPEN) == "UTC"
    saturday = D(2024, 3, 30)
    assert is_session(ALWAYS_OPEN, saturday)
    assert session_windows(ALWAYS_OPEN, saturday) == [
        (utc("2024-03-30 00:00"), utc("2024-03-31 00:00"))
    ]
    assert len(expected_minute_bars(ALWAYS_OPEN, D(2024, 3, 31))) == 1440  # DST is not UTC's
    assert session_date_of(ALWAYS_OPEN, utc("2024-03-30 23:59")) == saturday
    assert session_date_of(ALWAYS_OPEN, utc("2024-03-31 00:00")) == D(2024, 3, 31)
    assert len(sessions_in_range(ALWAYS_OPEN, D(2024, 1, 1), D(2024, 12, 31))) == 366


@settings(max_examples=200, deadline=None)
@given(
    calendar=st.sampled_from([ALWAYS_OPEN, "XLON", "XNYS", "XTKS", FX24X5, "XHKG"]),
    minute=st.integers(min_value=0, max_value=(366 * 3) * 1440),
)
def test_every_bar_maps_to_one_session_and_lies_inside_it(calendar: str, minute: int) -> None:
    """A minute bar opening at t belongs to at most one session, and when it does, t lies in
    that session's [open, close): DST changes and the 24/7 day boundary included."""
    t = utc("2023-01-01") + pd.Timedelta(minutes=minute)
    day = session_date_of(calendar, t)
    if day is None:
        return
    bounds = session_bounds(calendar, day)
    assert bounds is not None and bounds[0] <= t < bounds[1]
    before, after = (
        session_bounds(calendar, previous_session(calendar, day)),
        session_bounds(calendar, next_session(calendar, day)),
    )
    assert before is not None and after is not None
    assert not before[0] <= t < before[1] and not after[0] <= t < after[1]


def test_out_of_range() -> None:
    with pytest.raises(CalendarError, match="outside the XTKS calendar range"):
        is_session("XTKS", D(1990, 1, 4))


# --- XTKS -------------------------------------------------------------------------------------


def test_xtks_lunch_break_windows() -> None:
    assert session_windows("XTKS", D(2024, 1, 4)) == [
        (utc("2024-01-04 00:00"), utc("2024-01-04 02:30")),
        (utc("2024-01-04 03:30"), utc("2024-01-04 06:00")),
    ]


def test_xtks_close_moves_to_1530_in_november_2024() -> None:
    assert session_windows("XTKS", D(2024, 11, 1))[-1][1] == utc("2024-11-01 06:00")
    assert session_windows("XTKS", D(2024, 11, 5))[-1][1] == utc("2024-11-05 06:30")
    assert len(expected_minute_bars("XTKS", D(2024, 11, 1))) == 300
    assert len(expected_minute_bars("XTKS", D(2024, 11, 5))) == 330


@pytest.mark.parametrize(
    "day", [D(2024, 1, 1), D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 6), D(2024, 1, 8)]
)
def test_xtks_holidays_and_weekends(day: dt.date) -> None:
    assert not is_session("XTKS", day)
    assert session_windows("XTKS", day) == []
    assert session_bounds("XTKS", day) is None
    assert len(expected_minute_bars("XTKS", day)) == 0


def test_xtks_expected_minute_bars_skip_lunch() -> None:
    bars = expected_minute_bars("XTKS", "2024-01-04")
    assert str(bars.tz) == "UTC" and bars.name == "ts"
    assert bars[0] == utc("2024-01-04 00:00")
    assert bars[-1] == utc("2024-01-04 05:59")
    assert utc("2024-01-04 02:29") in bars
    assert utc("2024-01-04 02:30") not in bars
    assert utc("2024-01-04 03:29") not in bars
    assert utc("2024-01-04 03:30") in bars
    assert bars.is_monotonic_increasing and bars.is_unique


def test_sessions_in_range() -> None:
    assert sessions_in_range("XTKS", D(2023, 12, 28), D(2024, 1, 9)) == [
        D(2023, 12, 28),
        D(2023, 12, 29),
        D(2024, 1, 4),
        D(2024, 1, 5),
        D(2024, 1, 9),
    ]
    assert sessions_in_range("XTKS", "2024-01-01", "2024-01-03") == []
    assert sessions_in_range("XTKS", D(2024, 1, 9), D(2024, 1, 4)) == []
    assert len(sessions_in_range("XNYS", D(2024, 1, 1), D(2024, 12, 31))) == 252


def test_session_date_of_xtks() -> None:
    assert session_date_of("XTKS", utc("2024-01-04 00:00")) == D(2024, 1, 4)
    assert session_date_of("XTKS", utc("2024-01-04 05:59")) == D(2024, 1, 4)
    assert session_date_of("XTKS", utc("2024-01-04 06:00")) is None
    assert session_date_of("XTKS", utc("2024-01-03 23:59")) is None
    # the lunch break belongs to the session, except when strict
    assert session_date_of("XTKS", utc("2024-01-04 02:45")) == D(2024, 1, 4)
    assert session_date_of("XTKS", utc("2024-01-04 02:45"), strict=True) is None
    assert session_date_of("XTKS", "2024-01-04T09:00+09:00") == D(2024, 1, 4)
    with pytest.raises(CalendarError, match="no timezone"):
        session_date_of("XTKS", pd.Timestamp("2024-01-04 01:00"))


def test_session_dates_of_vectorised() -> None:
    ts = pd.DatetimeIndex(
        [
            utc("2024-01-04 00:00"),
            utc("2024-01-04 02:45"),
            utc("2024-01-05 01:00"),
            utc("2024-01-06 01:00"),
        ]
    )
    got = session_dates_of("XTKS", ts)
    assert list(got[:3].astype(object)) == [D(2024, 1, 4), D(2024, 1, 4), D(2024, 1, 5)]
    assert pd.isna(got[3])
    assert pd.isna(session_dates_of("XTKS", ts, strict=True)[1])


def test_next_close_and_neighbours() -> None:
    assert next_close("XTKS", utc("2024-01-04 01:00")) == utc("2024-01-04 06:00")
    assert next_close("XTKS", utc("2024-01-04 06:00")) == utc("2024-01-05 06:00")
    assert next_close("XTKS", utc("2023-12-29 07:00")) == utc("2024-01-04 06:00")
    assert next_session("XTKS", D(2023, 12, 29)) == D(2024, 1, 4)
    assert previous_session("XTKS", D(2024, 1, 4)) == D(2023, 12, 29)


# --- XNYS -------------------------------------------------------------------------------------


def test_xnys_dst_and_early_close() -> None:
    # 09:30-16:00 New York: 14:30 UTC in winter, 13:30 UTC in summer
    assert session_windows("XNYS", D(2024, 3, 8)) == [
        (utc("2024-03-08 14:30"), utc("2024-03-08 21:00"))
    ]
    assert session_windows("XNYS", D(2024, 3, 11)) == [
        (utc("2024-03-11 13:30"), utc("2024-03-11 20:00"))
    ]
    # day after Thanksgiving closes at 13:00
    assert session_windows("XNYS", D(2024, 11, 29))[0][1] == utc("2024-11-29 18:00")
    assert len(expected_minute_bars("XNYS", D(2024, 11, 29))) == 210
    assert not is_session("XNYS", D(2024, 7, 4))


# --- FX24X5 -----------------------------------------------------------------------------------


def test_fx_session_opens_sunday_new_york() -> None:
    assert session_windows("FX24X5", D(2024, 1, 8)) == [
        (utc("2024-01-07 22:00"), utc("2024-01-08 22:00"))
    ]


def test_fx_dst_transition() -> None:
    # US DST starts Sunday 2024-03-10: Monday's session opens 17:00 EDT = 21:00 UTC
    assert session_windows("FX24X5", D(2024, 3, 11)) == [
        (utc("2024-03-10 21:00"), utc("2024-03-11 21:00"))
    ]
    assert session_windows("FX24X5", D(2024, 3, 8)) == [
        (utc("2024-03-07 22:00"), utc("2024-03-08 22:00"))
    ]
    # DST ends Sunday 2024-11-03
    assert session_windows("FX24X5", D(2024, 11, 1))[0][1] == utc("2024-11-01 21:00")
    assert session_windows("FX24X5", D(2024, 11, 4))[0][0] == utc("2024-11-03 22:00")
    for day in (D(2024, 3, 11), D(2024, 11, 4)):
        assert len(expected_minute_bars("FX24X5", day)) == 1440


def test_fx_weekend_and_no_holidays() -> None:
    assert not is_session("FX24X5", D(2024, 3, 9))
    assert not is_session("FX24X5", D(2024, 3, 10))
    assert session_windows("FX24X5", D(2024, 3, 10)) == []
    assert is_session("FX24X5", D(2024, 1, 1))
    assert is_session("FX24X5", D(2024, 12, 25))
    assert sessions_in_range("FX24X5", D(2024, 3, 7), D(2024, 3, 12)) == [
        D(2024, 3, 7),
        D(2024, 3, 8),
        D(2024, 3, 11),
        D(2024, 3, 12),
    ]


def test_fx_session_date_of() -> None:
    assert session_date_of("FX24X5", utc("2024-03-10 21:00")) == D(2024, 3, 11)
    assert session_date_of("FX24X5", utc("2024-03-10 20:59")) is None  # weekend
    assert session_date_of("FX24X5", utc("2024-03-08 21:59")) == D(2024, 3, 8)
    assert session_date_of("FX24X5", utc("2024-03-08 22:00")) is None
    assert session_date_of("FX24X5", utc("2024-03-12 23:00")) == D(2024, 3, 13)
    assert next_close("FX24X5", utc("2024-03-09 00:00")) == utc("2024-03-11 21:00")


def test_to_date() -> None:
    assert to_date("2024-01-04") == D(2024, 1, 4)
    assert to_date(pd.Timestamp("2024-01-04 10:00")) == D(2024, 1, 4)
    assert to_date(D(2024, 1, 4)) == D(2024, 1, 4)
    with pytest.raises(CalendarError, match="not a date"):
        to_date("not a date")
