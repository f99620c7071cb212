"""Adjusted prices from event factors: the arithmetic every adjusted read relies on."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from market_assets.core.adjustments import (
    AdjustmentError,
    adjust,
    events_from_cumulative,
    multipliers,
    reaggregate,
    session_events,
)

D = dt.date


def events(*pairs: tuple[dt.date, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {"symbol": ["7203"] * len(pairs), "session_date": [d for d, _ in pairs],
         "factor": [f for _, f in pairs]}
    )  # fmt: skip


def test_multiplier_is_the_product_of_later_events_only() -> None:
    ev = events((D(2024, 1, 9), 0.5), (D(2024, 3, 1), 0.98))
    days = [D(2024, 1, 5), D(2024, 1, 9), D(2024, 2, 1), D(2024, 3, 1), D(2024, 3, 4)]
    np.testing.assert_allclose(multipliers(days, ev), [0.49, 0.98, 0.98, 1.0, 1.0])
    assert (multipliers(days, None) == 1.0).all()


def test_split_gives_a_continuous_series_and_scales_volume() -> None:
    ts = pd.DatetimeIndex(["2024-01-05", "2024-01-09"], tz="UTC", name="ts")
    raw = pd.DataFrame(
        {"open": [200.0, 100.0], "high": [210.0, 105.0], "low": [190.0, 95.0],
         "close": [200.0, 101.0], "volume": [1000.0, 2100.0]},
        index=ts,
    )  # fmt: skip
    out = adjust(raw, np.array([D(2024, 1, 5), D(2024, 1, 9)]), events((D(2024, 1, 9), 0.5)))
    assert list(out["close"]) == [100.0, 101.0]
    assert list(out["volume"]) == [2000.0, 2100.0]
    assert list(raw["close"]) == [200.0, 101.0]  # the raw frame is untouched
    assert out.attrs["adjusted"] is True


def test_cumulative_to_events_ignores_float_noise_and_bridges_gaps() -> None:
    cum = np.array([0.95, 0.9500003, np.nan, 1.0, 1.0])
    out = events_from_cumulative(cum)
    assert out[0] == 1.0 and out[1] == 1.0 and out[2] == 1.0 and out[4] == 1.0
    assert out[3] == pytest.approx(0.9500003)
    # the events reproduce the cumulative factor of every known session
    days = [D(2024, 1, d) for d in (4, 5, 9, 10, 11)]
    ev = events(*[(d, f) for d, f in zip(days, out, strict=True) if f != 1.0])
    np.testing.assert_allclose(multipliers(days, ev)[[0, 1, 3, 4]], cum[[0, 1, 3, 4]], rtol=1e-6)


def test_session_events_refuses_two_factors_in_one_session() -> None:
    bars = pd.DataFrame(
        {"symbol": ["7203"] * 3, "session_date": [D(2024, 1, 9)] * 3,
         "adj_factor": [0.5, 0.5, 1.0]}
    )  # fmt: skip
    got = session_events(bars)
    assert got.to_dict("records") == [
        {"symbol": "7203", "session_date": D(2024, 1, 9), "factor": 0.5}
    ]
    bars.loc[2, "adj_factor"] = 0.25
    with pytest.raises(AdjustmentError, match="different factors"):
        session_events(bars)
    bars.loc[2, "adj_factor"] = -1.0
    with pytest.raises(AdjustmentError, match="finite and > 0"):
        session_events(bars)


def test_weekly_bar_spanning_a_split_is_reaggregated_from_adjusted_days() -> None:
    days = [D(2024, 1, d) for d in (8, 9, 10)]
    ts = pd.DatetimeIndex([f"2024-01-{d.day:02d}" for d in days], tz="UTC", name="ts")
    daily = pd.DataFrame(
        {"open": [200.0, 100.0, 102.0], "high": [220.0, 104.0, 106.0],
         "low": [198.0, 99.0, 101.0], "close": [202.0, 103.0, 105.0],
         "volume": [10.0, 30.0, 40.0]},
        index=ts,
    )  # fmt: skip
    adjusted = adjust(daily, np.array(days), events((D(2024, 1, 9), 0.5)))
    week = reaggregate(adjusted, pd.DatetimeIndex(["2024-01-08"], tz="UTC"))
    bar = week.iloc[0]
    assert (bar["open"], bar["high"], bar["low"], bar["close"], bar["volume"]) == (
        100.0,
        110.0,
        99.0,
        105.0,
        90.0,
    )
