"""Batched backfill planning: few runs, each a contiguous block of registered symbols."""

import datetime as dt

from market_assets.core.run_plan import RunWindow, plan_runs

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
