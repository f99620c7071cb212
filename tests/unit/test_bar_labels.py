"""Bars of every base timeframe against every kind of calendar: each expected label belongs to
exactly one session partition and none falls outside it (XTKS lunch break, XNYS DST, FX24X5's
New York roll, 24/7 UTC days)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market_assets.core.calendars import (
    ALWAYS_OPEN,
    FX24X5,
    bar_session_dates,
    dated_bar_sessions,
    expected_bar_labels,
    expected_minute_bars,
    next_session,
    period_first_session,
    previous_session,
    session_bounds,
    session_windows,
    sessions_in_range,
)
from market_assets.core.timeframes import ALL_TIMEFRAMES, Timeframe

D = dt.date
CALENDARS = ["XTKS", "XNYS", FX24X5, ALWAYS_OPEN]
TIMEFRAMES = [str(tf) for tf in ALL_TIMEFRAMES]


def _traded_minutes(calendar: str, day: dt.date, start: pd.Timestamp, minutes: int) -> int:
    """Trading minutes of the session inside [start, start + minutes)."""
    end = start + pd.Timedelta(minutes=minutes)
    total = 0
    for a, b in session_windows(calendar, day):
        lo, hi = max(a, start), min(b, end)
        total += max(0, int((hi - lo) / pd.Timedelta(minutes=1)))
    return total


def _session_on_or_after(calendar: str, day: dt.date) -> dt.date:
    return next_session(calendar, day - dt.timedelta(days=1))


@settings(max_examples=300, deadline=None)
@given(
    calendar=st.sampled_from(CALENDARS),
    timeframe=st.sampled_from(TIMEFRAMES),
    offset=st.integers(min_value=0, max_value=366 * 3),
)
def test_every_label_maps_to_exactly_one_session_and_lies_inside_it(
    calendar: str, timeframe: str, offset: int
) -> None:
    day = _session_on_or_after(calendar, D(2023, 1, 1) + dt.timedelta(days=offset))
    labels = expected_bar_labels(calendar, timeframe, day)
    assert labels.is_monotonic_increasing and labels.is_unique
    mapped = bar_session_dates(calendar, timeframe, labels)
    assert (mapped == np.datetime64(day, "D")).all()
    neighbours = [previous_session(calendar, day), next_session(calendar, day)]
    for other in neighbours:
        assert not set(expected_bar_labels(calendar, timeframe, other)) & set(labels)
    minutes = Timeframe.parse(timeframe).minutes
    bounds = session_bounds(calendar, day)
    assert bounds is not None
    for label in labels:
        if minutes is not None:  # the bar holds at least one of the session's minutes
            assert _traded_minutes(calendar, day, label, minutes) >= 1
        else:  # labelled by the open of the session it is filed under
            assert label == bounds[0]


@settings(max_examples=300, deadline=None)
@given(
    calendar=st.sampled_from(CALENDARS),
    timeframe=st.sampled_from(TIMEFRAMES),
    minute=st.integers(min_value=0, max_value=(366 * 3) * 1440),
)
def test_any_timestamp_is_a_label_of_at_most_the_session_it_maps_to(
    calendar: str, timeframe: str, minute: int
) -> None:
    minutes = Timeframe.parse(timeframe).minutes or 1
    t = pd.Timestamp("2023-01-01", tz="UTC") + pd.Timedelta(minutes=minute // minutes * minutes)
    mapped = bar_session_dates(calendar, timeframe, pd.DatetimeIndex([t]))[0]
    if np.isnat(mapped):
        for day in sessions_in_range(calendar, (t - pd.Timedelta(days=3)).date(), t.date()):
            assert t not in expected_bar_labels(calendar, timeframe, day)
        return
    assert t in expected_bar_labels(calendar, timeframe, mapped.astype(object))


@pytest.mark.parametrize("calendar", CALENDARS)
def test_m1_labels_are_the_expected_minutes_and_d1_one_per_session(calendar: str) -> None:
    for day in sessions_in_range(calendar, D(2024, 3, 4), D(2024, 3, 15)):
        assert expected_bar_labels(calendar, "M1", day).equals(expected_minute_bars(calendar, day))
        bounds = session_bounds(calendar, day)
        assert bounds is not None
        assert list(expected_bar_labels(calendar, "D1", day)) == [bounds[0]]
    saturday = expected_bar_labels(calendar, "H1", D(2024, 3, 16))
    assert saturday.empty == (calendar != ALWAYS_OPEN)


def test_intraday_labels_follow_the_origin_buckets() -> None:
    # XTKS, lunch 11:30-12:30 JST (02:30-03:30 UTC), close 15:30 JST since 2024-11-05.
    h1 = expected_bar_labels("XTKS", "H1", D(2024, 11, 6))
    assert [t.strftime("%H:%M") for t in h1] == [
        "00:00",
        "01:00",
        "02:00",
        "03:00",
        "04:00",
        "05:00",
        "06:00",
    ]
    # XNYS opens 14:30 UTC in winter, 13:30 in summer: the first H1 bar is the 14:00 / 13:00 bucket.
    assert expected_bar_labels("XNYS", "H1", D(2024, 3, 8))[0] == pd.Timestamp(
        "2024-03-08 14:00", tz="UTC"
    )
    assert expected_bar_labels("XNYS", "H1", D(2024, 3, 11))[0] == pd.Timestamp(
        "2024-03-11 13:00", tz="UTC"
    )
    assert len(expected_bar_labels("XNYS", "M30", D(2024, 3, 11))) == 13


def test_fx_h4_bucket_across_the_roll_belongs_to_the_earlier_session() -> None:
    # Winter: sessions roll at 22:00 UTC, inside the 20:00 H4 bucket.
    monday, tuesday = D(2024, 1, 8), D(2024, 1, 9)
    roll_bucket = pd.Timestamp("2024-01-08 20:00", tz="UTC")
    assert roll_bucket in expected_bar_labels(FX24X5, "H4", monday)
    assert roll_bucket not in expected_bar_labels(FX24X5, "H4", tuesday)
    assert len(expected_bar_labels(FX24X5, "H4", monday)) == 7  # Sunday's 20:00 bucket opens it
    assert len(expected_bar_labels(FX24X5, "H4", tuesday)) == 6
    assert len(expected_bar_labels(FX24X5, "H1", tuesday)) == 24


def test_fx_h1_week_has_no_weekend_labels() -> None:
    labels = [
        t
        for day in sessions_in_range(FX24X5, D(2024, 1, 8), D(2024, 1, 14))
        for t in expected_bar_labels(FX24X5, "H1", day)
    ]
    assert len(labels) == 5 * 24
    assert labels[-1] == pd.Timestamp("2024-01-12 21:00", tz="UTC")  # Friday 16:00 New York


def test_week_and_month_bars_are_filed_under_their_first_session() -> None:
    # 2024-01-01 (Monday) is a holiday in New York: the week's and the month's first session
    # is Tuesday 2 January; ts is its open.
    tuesday = D(2024, 1, 2)
    open_ = pd.Timestamp("2024-01-02 14:30", tz="UTC")
    assert list(expected_bar_labels("XNYS", "W1", tuesday)) == [open_]
    assert list(expected_bar_labels("XNYS", "MN1", tuesday)) == [open_]
    assert expected_bar_labels("XNYS", "W1", D(2024, 1, 3)).empty
    assert period_first_session("XNYS", "MN1", D(2024, 1, 31)) == tuesday
    assert period_first_session("XNYS", "W1", D(2024, 1, 7)) == tuesday
    assert period_first_session("XNYS", "D1", D(2024, 1, 1)) is None
    weeks = [
        d
        for d in sessions_in_range("XNYS", D(2024, 1, 1), D(2024, 12, 31))
        if len(expected_bar_labels("XNYS", "W1", d))
    ]
    # ISO weeks 1..52 of 2024, and week 1 of 2025, which begins on Monday 30 December.
    assert len(weeks) == 53 and weeks[-1] == D(2024, 12, 30)
    months = [
        d
        for d in sessions_in_range(ALWAYS_OPEN, D(2024, 1, 1), D(2024, 12, 31))
        if len(expected_bar_labels(ALWAYS_OPEN, "MN1", d))
    ]
    assert months == [D(2024, m, 1) for m in range(1, 13)]


def test_dated_bars_are_filed_under_their_periods_first_session() -> None:
    days = np.array(
        ["2024-01-31", "2024-01-07", "2024-01-08", "2024-01-01", "NaT"], "datetime64[D]"
    )
    month, opens = dated_bar_sessions("XNYS", "MN1", days)
    assert list(month[:4]) == [np.datetime64("2024-01-02")] * 4  # 1 January is a holiday
    assert opens[0] == pd.Timestamp("2024-01-02 14:30", tz="UTC").value and np.isnat(month[4])
    week, _ = dated_bar_sessions("XNYS", "W1", days)
    assert [str(d) for d in week[:4]] == ["2024-01-29", "2024-01-02", "2024-01-08", "2024-01-02"]
    sunday_start, _ = dated_bar_sessions("XNYS", "W1", days, sunday_starts_week=True)
    assert str(sunday_start[1]) == "2024-01-08"  # Sunday 7 January opens the next week
    daily, _ = dated_bar_sessions("XNYS", "D1", days)
    assert str(daily[0]) == "2024-01-31" and np.isnat(daily[1]) and np.isnat(daily[3])
