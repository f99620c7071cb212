"""Batched backfill planning: few runs, each a contiguous block of registered symbols."""

import datetime as dt

from market_assets.core.run_plan import RunWindow, plan_runs, plan_touched_runs

REGISTERED = ["USDJPY", "EURUSD", "7203", "AAPL", "MSFT"]


def test_contiguous_symbols_make_one_run_per_window() -> None:
    runs = plan_runs(dt.date(2024, 1, 1), dt.date(2024, 12, 31), REGISTERED, REGISTERED, 366)
    assert runs == [RunWindow(dt.date(2024, 1, 1), dt.date(2024, 12, 31), "USDJPY", "MSFT")]


def test_gaps_in_registration_order_split_blocks_and_windows_split_dates() -> None:
    runs = plan_runs(
        dt.date(2024, 1, 1), dt.date(2024, 1, 10), ["USDJPY", "AAPL", "MSFT"], REGISTERED, 5
    )
    assert [(r.start.day, r.end.day, r.first_symbol, r.last_symbol) for r in runs] == [
        (1, 5, "USDJPY", "USDJPY"),
        (1, 5, "AAPL", "MSFT"),
        (6, 10, "USDJPY", "USDJPY"),
        (6, 10, "AAPL", "MSFT"),
    ]


def test_touched_partitions_make_one_run_per_date_and_block_and_nothing_more() -> None:
    """The landing sensor's and `landing process|retry`'s plan: exactly the files' partitions."""
    d1, d2 = dt.date(2024, 3, 11), dt.date(2024, 3, 12)
    touched = {"USDJPY": {d1, d2}, "EURUSD": {d1}, "AAPL": {d2}}
    runs = plan_touched_runs(touched, REGISTERED)
    assert runs == [
        RunWindow(d1, d1, "USDJPY", "EURUSD"),
        RunWindow(d2, d2, "USDJPY", "USDJPY"),
        RunWindow(d2, d2, "AAPL", "AAPL"),
    ]
    covered = {
        (r.start, s)
        for r in runs
        for s in REGISTERED[REGISTERED.index(r.first_symbol) : REGISTERED.index(r.last_symbol) + 1]
    }
    assert covered == {(d, s) for s, days in touched.items() for d in days}
    assert plan_touched_runs({}, REGISTERED) == []


def test_session_window_tags_round_trip_and_bad_values_name_the_tag() -> None:
    import pytest

    from market_assets.core.run_plan import (
        SESSIONS_TAG,
        SessionWindowError,
        session_window,
        session_window_tags,
    )

    day = dt.date(2026, 11, 30)
    tags = session_window_tags(day, day)
    assert tags == {SESSIONS_TAG: "2026-11-30..2026-11-30"}
    assert session_window(tags) == (day, day)
    assert session_window({}) is None  # whole periods
    for bad in ("2026-11-30", "2026-11-31..2026-12-01", "2026-12-02..2026-12-01", "x..y"):
        with pytest.raises(SessionWindowError, match=SESSIONS_TAG):
            session_window({SESSIONS_TAG: bad})


def test_the_year_schedule_asks_for_the_session_only_in_runs_of_at_most_1000_symbols() -> None:
    from market_assets.core.run_plan import RANGE_END_TAG, RANGE_START_TAG, SESSIONS_TAG
    from market_assets.defs.ohlcv.daily_schedules import year_run_requests

    symbols = [f"{1300 + i}" for i in range(2500)]
    requests = year_run_requests("XTKS", dt.date(2026, 11, 30), symbols, symbols, "tokyo_year")
    assert [(r.tags[RANGE_START_TAG], r.tags[RANGE_END_TAG]) for r in requests] == [
        ("2026|1300", "2026|2299"),
        ("2026|2300", "2026|3299"),
        ("2026|3300", "2026|3799"),
    ]
    assert {r.tags[SESSIONS_TAG] for r in requests} == {"2026-11-30..2026-11-30"}
