"""Checks comparing the database with S3 judge only the window the database keeps."""

from __future__ import annotations

import datetime as dt

import pytest

from market_assets.core.partition_keys import BarPartition
from market_assets.db.policies import PolicySettings, m1_horizon
from market_assets.quality.evaluation import in_database_window

TODAY = dt.date(2026, 11, 23)


@pytest.mark.parametrize(
    ("retention", "horizon"),
    [
        ("6 months", dt.date(2026, 5, 23)),
        ("180 days", dt.date(2026, 5, 27)),
        ("2 weeks", dt.date(2026, 11, 9)),
        ("1 year", dt.date(2025, 11, 23)),
        (None, None),
    ],
)
def test_horizon_follows_the_configured_retention(
    retention: str | None, horizon: dt.date | None
) -> None:
    assert m1_horizon(PolicySettings(retention_m1=retention), TODAY) == horizon


def test_partitions_older_than_retention_are_not_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    old, recent = BarPartition(dt.date(2024, 3, 11), "7203"), BarPartition(TODAY, "7203")
    monkeypatch.setenv("MARKET_ASSETS_RETENTION_M1", "6 months")
    assert in_database_window([old, recent], TODAY) == ([recent], [old])
    monkeypatch.setenv("MARKET_ASSETS_RETENTION_M1", "off")
    assert in_database_window([old, recent], TODAY) == ([old, recent], [])
