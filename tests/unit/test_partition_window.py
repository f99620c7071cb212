"""The ts windows that let the primary key find a partition's bars (migration 0007)."""

from __future__ import annotations

import datetime as dt

import pytest

from market_assets.core.calendars import expected_minute_bars, sessions_in_range
from market_assets.core.partition_window import MARGIN, ts_window, window_arrays
from market_assets.core.universe import default_universe


@pytest.mark.parametrize("symbol", ["USDJPY", "7203", "N225", "SPX"])
def test_every_bar_of_a_session_lies_inside_its_window(symbol: str) -> None:
    universe = default_universe()
    try:
        calendar = universe.resolve(symbol).calendar
    except LookupError:
        pytest.skip(f"{symbol} is not in the universe file")
    for day in sessions_in_range(calendar, dt.date(2024, 3, 1), dt.date(2024, 3, 31)):
        bars = expected_minute_bars(calendar, day)
        lo, hi = ts_window(symbol, day)
        assert lo <= bars.min().to_pydatetime() - MARGIN
        assert bars.max().to_pydatetime() + MARGIN < hi
        # The window never reaches a neighbouring session's *own* hours by more than MARGIN.
        assert hi - lo <= dt.timedelta(days=1) + 2 * MARGIN


def test_symbols_and_dates_without_a_session_get_the_calendar_free_window() -> None:
    midnight = dt.datetime(2024, 3, 16, tzinfo=dt.UTC)
    for symbol in ("7203", "NOT-IN-UNIVERSE"):
        lo, hi = ts_window(symbol, dt.date(2024, 3, 16))  # a Saturday
        assert lo == midnight - dt.timedelta(days=1)
        assert hi == midnight + dt.timedelta(days=2)


def test_window_arrays_are_aligned_with_the_pairs() -> None:
    pairs = [("USDJPY", dt.date(2024, 3, 11)), ("7203", dt.date(2024, 3, 12))]
    arrays = window_arrays(pairs)
    assert [(lo, hi) for lo, hi in zip(arrays["lo"], arrays["hi"], strict=True)] == [
        ts_window(s, d) for s, d in pairs
    ]
