"""session_continuity and row_count judge each symbol's bars against its base's labels: hourly
FX over a weekend raises no gap alarm, one missing mid-week hour does, and the sources'
tolerance for skipped minutes does not excuse a missing hour."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd
import pytest

from market_assets.core.partition_keys import BarPartition
from market_assets.core.timeframes import Timeframe
from market_assets.core.universe import default_universe
from market_assets.quality import evaluation as ev
from resources.sources.generator import GeneratorSource

WEEK = [dt.date(2024, 3, 9) + dt.timedelta(days=i) for i in range(9)]  # Sat .. next Sun


def _batch(
    timeframe: str, bars: pd.DataFrame | None = None, source: str = "generator"
) -> ev.BatchData:
    inst = dataclasses.replace(
        default_universe().get("EURUSD"), base_timeframe=Timeframe.parse(timeframe), source=source
    )
    if bars is None:
        bars = GeneratorSource().fetch_many([inst], WEEK)
    bars = bars.assign(source=pd.Series([source] * len(bars), dtype=bars["source"].dtype))
    parts = [BarPartition(d, "EURUSD") for d in WEEK]
    return ev.BatchData(parts, {"EURUSD": inst}, bars, [])


@pytest.mark.parametrize("timeframe", ["M1", "M15", "H1", "H4", "D1", "W1", "MN1"])
def test_a_complete_week_of_any_base_passes_weekend_included(timeframe: str) -> None:
    batch = _batch(timeframe)
    assert ev.check_continuity(batch).passed
    counts = ev.check_row_counts(batch)
    assert counts.passed
    saturday = counts.per_partition[BarPartition(WEEK[0], "EURUSD")]
    assert saturday["expected"] == saturday["actual"] == 0


def test_one_missing_mid_week_hour_fails_continuity_and_row_count() -> None:
    bars = GeneratorSource().fetch_many(
        [dataclasses.replace(default_universe().get("EURUSD"), base_timeframe=Timeframe.H1)], WEEK
    )
    wednesday = pd.Timestamp("2024-03-13 10:00", tz="UTC")
    gappy = bars[bars["ts"] != wednesday].reset_index(drop=True)
    for source in ("generator", "landing"):  # landing tolerates skipped minutes, not hours
        batch = _batch("H1", gappy, source)
        continuity = ev.check_continuity(batch)
        assert not continuity.passed
        assert continuity.failing == {
            BarPartition(dt.date(2024, 3, 13), "EURUSD"): {"missing": 1, "outside": 0}
        }
        assert not ev.check_row_counts(batch).passed


def test_minute_bases_keep_the_sources_tolerance() -> None:
    inst = dataclasses.replace(default_universe().get("EURUSD"), source="landing")
    assert ev.tolerated_share(inst, "landing") == default_universe().quality.tolerance("landing")
    for tf in (Timeframe.H1, Timeframe.H4, Timeframe.D1, Timeframe.W1, Timeframe.MN1):
        assert ev.tolerated_share(dataclasses.replace(inst, base_timeframe=tf), "landing") == 0.0
