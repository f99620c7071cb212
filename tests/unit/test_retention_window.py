"""Retention per timeframe: its configuration, and checks comparing the database with S3
judge only the window the database keeps of each partition's base timeframe."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from market_assets.core.partition_keys import BarPartition
from market_assets.core.universe import DEFAULT_UNIVERSE_PATH, default_universe
from market_assets.db.policies import PolicySettings, horizon, m1_horizon
from market_assets.quality.evaluation import in_database_window

TODAY = dt.date(2026, 11, 23)
TIMEFRAMES = ("M5", "M15", "M30", "H1", "H4", "D1", "W1", "MN1")


@pytest.fixture(autouse=True)
def _no_retention_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for tf in ("M1", *TIMEFRAMES):
        monkeypatch.delenv(f"MARKET_ASSETS_RETENTION_{tf}", raising=False)


@pytest.mark.parametrize(
    ("retention", "expected"),
    [
        ("6 months", dt.date(2026, 5, 23)),
        ("180 days", dt.date(2026, 5, 27)),
        ("2 weeks", dt.date(2026, 11, 9)),
        ("1 year", dt.date(2025, 11, 23)),
        (None, None),
    ],
)
def test_horizon_follows_the_configured_retention(
    retention: str | None, expected: dt.date | None
) -> None:
    assert m1_horizon(PolicySettings(retention_m1=retention), TODAY) == expected


def test_defaults_m1_six_months_every_other_timeframe_kept() -> None:
    policy = PolicySettings.from_env()
    assert policy.configured() == {"M1": "6 months"}
    assert all(horizon(policy, tf, TODAY) is None for tf in TIMEFRAMES)


def test_each_timeframe_has_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKET_ASSETS_RETENTION_M1", "off")
    monkeypatch.setenv("MARKET_ASSETS_RETENTION_H1", "2 Years")
    monkeypatch.setenv("MARKET_ASSETS_RETENTION_MN1", "none")
    policy = PolicySettings.from_env()
    assert policy.configured() == {"H1": "2 years"}
    assert horizon(policy, "H1", TODAY) == dt.date(2024, 11, 23)
    assert horizon(policy, "M1", TODAY) is None


@pytest.mark.parametrize("tf", ["M1", *TIMEFRAMES])
def test_a_bad_value_names_its_variable(monkeypatch: pytest.MonkeyPatch, tf: str) -> None:
    monkeypatch.setenv(f"MARKET_ASSETS_RETENTION_{tf}", "six months")
    with pytest.raises(ValueError, match=f"MARKET_ASSETS_RETENTION_{tf} must look like"):
        PolicySettings.from_env()


def test_settings_refuse_unknown_timeframes_and_bad_intervals() -> None:
    with pytest.raises(ValueError, match="unknown timeframe"):
        PolicySettings(retention={"M2": "1 year"})
    with pytest.raises(ValueError, match="MARKET_ASSETS_RETENTION_D1"):
        PolicySettings(retention={"D1": "forever"})


@pytest.fixture
def daily_symbol(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A universe file with a D1-base index beside the shipped instruments."""
    document = yaml.safe_load(DEFAULT_UNIVERSE_PATH.read_text(encoding="utf-8"))
    document["instruments"].append(
        {
            "symbol": "DAYIX",
            "kind": "index",
            "calendar": "XNYS",
            "currency": "USD",
            "start_price": 100.0,
            "base_timeframe": "D1",
        }
    )
    path = tmp_path / "universe.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    monkeypatch.setenv("MARKET_ASSETS_UNIVERSE", str(path))
    assert str(default_universe().get("DAYIX").base_timeframe) == "D1"
    return "DAYIX"


def test_partitions_older_than_retention_are_not_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    old, recent = BarPartition(dt.date(2024, 3, 11), "7203"), BarPartition(TODAY, "7203")
    monkeypatch.setenv("MARKET_ASSETS_RETENTION_M1", "6 months")
    assert in_database_window([old, recent], TODAY) == ([recent], [old])
    monkeypatch.setenv("MARKET_ASSETS_RETENTION_M1", "off")
    assert in_database_window([old, recent], TODAY) == ([old, recent], [])


def test_the_window_follows_each_partitions_base(
    monkeypatch: pytest.MonkeyPatch, daily_symbol: str
) -> None:
    """M1's retention leaves a D1 base's old sessions judged; a rollup check also waits for
    the retention of the level it compares with."""
    daily = daily_symbol
    old_m1, old_d1 = (
        BarPartition(dt.date(2024, 3, 11), "7203"),
        BarPartition(dt.date(2024, 3, 11), daily),
    )
    monkeypatch.setenv("MARKET_ASSETS_RETENTION_M1", "6 months")
    assert in_database_window([old_m1, old_d1], TODAY) == ([old_d1], [old_m1])
    monkeypatch.setenv("MARKET_ASSETS_RETENTION_M1", "off")
    monkeypatch.setenv("MARKET_ASSETS_RETENTION_D1", "1 year")
    assert in_database_window([old_m1], TODAY) == ([old_m1], [])
    assert in_database_window([old_m1], TODAY, also=["D1"]) == ([], [old_m1])
