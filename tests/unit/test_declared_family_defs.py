"""The Dagster side of families declared in the universe file: each one's date dimension
lists exactly the keys core/families.py gives (weekdays, a pinned calendar's holidays as
`exclusions`, months), and a code location loading a universe file with families defines
their assets, jobs, schedules and sets, next to the built-in families' unchanged ones."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from market_assets.core.families import DateGrain, DayKeys, Family
from market_assets.core.timeframes import Timeframe
from market_assets.core.universe import DEFAULT_UNIVERSE_PATH
from market_assets.defs.ohlcv.partitions import date_partitions, family_partitions

ROOT = Path(__file__).resolve().parents[2]
START = dt.date(2024, 1, 1)
FAMILIES = {
    "weekdays": Family(
        "fx_m1", (Timeframe.M1,), DateGrain.DAY, START, "fx_m1_symbols", DayKeys.WEEKDAYS
    ),
    "pinned": Family(
        "tokyo_m1", (Timeframe.M1,), DateGrain.DAY, START, "t_symbols", DayKeys.WEEKDAYS, "XTKS"
    ),
    "month": Family("hourly", (Timeframe.H1,), DateGrain.MONTH, dt.date(2018, 1, 1), "h_symbols"),
    # starts that are no key: a Saturday, a Tokyo holiday, the middle of a month
    "from_saturday": Family(
        "sat", (Timeframe.M1,), DateGrain.DAY, dt.date(2024, 1, 6), "s", DayKeys.WEEKDAYS
    ),
    "from_holiday": Family(
        "hol", (Timeframe.M1,), DateGrain.DAY, dt.date(2024, 1, 2), "s", DayKeys.WEEKDAYS, "XTKS"
    ),
    "from_mid_month": Family("mid", (Timeframe.H1,), DateGrain.MONTH, dt.date(2018, 1, 15), "s"),
}


@pytest.mark.parametrize("which", sorted(FAMILIES))
def test_dagsters_date_keys_are_the_familys(which: str) -> None:
    family = FAMILIES[which]
    dates = date_partitions(family)
    keys = dates.get_partition_keys()
    assert keys == family.date_keys(dt.datetime.now(dt.UTC).date())
    if family.grain is DateGrain.DAY:
        assert all(dt.date.fromisoformat(k).weekday() < 5 for k in keys)
    if family.calendar:
        assert "2024-01-02" not in keys and "2024-01-04" in keys  # Tokyo's New Year holidays
        assert len(dates.exclusions or []) == len(family.excluded_days()) > 100
    symbols = family_partitions(family).partitions_defs[1].partitions_def
    assert symbols.name == family.symbols_set


DECLARED = [
    {"name": "fx_m1", "bases": ["M1"], "grain": "day", "start": "2020-01-01", "days": "weekdays"},
    {"name": "hourly", "bases": ["H1"], "grain": "month", "start": "2018-01-01"},
]
MEMBERS = [
    {
        "symbol": "BTCUSD",
        "kind": "crypto",
        "calendar": "24/7",
        "currency": "USD",
        "start_price": 40000,
        "base_timeframe": "H1",
        "family": "hourly",
    },
]


def test_a_universe_with_families_defines_their_assets_jobs_and_schedules(tmp_path: Path) -> None:
    document = yaml.safe_load(DEFAULT_UNIVERSE_PATH.read_text(encoding="utf-8"))
    for inst in document["instruments"]:
        if inst["symbol"] == "EURUSD":
            inst["family"] = "fx_m1"
    document["families"] = DECLARED
    document["instruments"] += MEMBERS
    path = tmp_path / "universe.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    script = """
import json
from market_assets.definitions import defs
from tests.unit.test_definitions_snapshot import describe
print(json.dumps(describe(defs), default=str))
"""
    env = {**os.environ, "MARKET_ASSETS_UNIVERSE": str(path), "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    shipped = json.loads((ROOT / "tests/snapshots/definitions.json").read_text(encoding="utf-8"))
    # the built-in families' definitions are untouched by the declared ones
    for section in ("assets", "schedules", "jobs"):
        for name, described in shipped[section].items():
            assert got[section][name] == described, (section, name)
    added = sorted(set(got["assets"]) - set(shipped["assets"]))
    assert added == sorted(
        [
            "fx_m1_db_bars",
            "fx_m1_raw_bars",
            "fx_m1_rollups",
            "fx_m1_snapshots",
            "hourly_db_bars",
            "hourly_raw_bars",
            "hourly_rollups",
            "hourly_snapshots",
        ]
    )
    fx_raw = got["assets"]["fx_m1_raw_bars"]
    assert fx_raw["group"] == "ohlcv_fx_m1"
    dates = fx_raw["partitions"]["dimensions"]["date"]
    assert (dates["cron"], dates["fmt"], dates["start"][:10]) == (
        "0 0 * * 1-5",
        "%Y-%m-%d",
        "2020-01-01",
    )
    assert fx_raw["partitions"]["dimensions"]["symbol"] == {
        "type": "dynamic",
        "name": "fx_m1_symbols",
    }
    month = got["assets"]["hourly_snapshots"]["partitions"]["dimensions"]["date"]
    assert (month["cron"], month["fmt"]) == ("0 0 1 * *", "%Y-%m")
    assert sorted(set(got["jobs"]) - set(shipped["jobs"])) == [
        "ohlcv_fx_m1_family",
        "ohlcv_hourly_family",
    ]
    new_schedules = sorted(set(got["schedules"]) - set(shipped["schedules"]))
    assert "fx_fx_m1" in new_schedules and "tokyo_equities_hourly" in new_schedules
    assert "cal_24_7_hourly" in new_schedules  # BTCUSD's 24/7: after midnight UTC
    assert len(new_schedules) == 7  # one per market and family, and the 24/7 one


def test_a_declared_familys_schedule_requests_the_key_holding_the_session() -> None:
    from market_assets.defs.ohlcv.daily_schedules import period_run_requests

    fx = ["EURUSD", "USDJPY"]
    requests = period_run_requests(FAMILIES["month"])(
        "FX24X5", dt.date(2024, 2, 29), fx, fx, "fx_hourly"
    )
    assert [
        (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
        for r in requests
    ] == [("2024-02|EURUSD", "2024-02|USDJPY")]
    weekdays = period_run_requests(FAMILIES["weekdays"])(
        "FX24X5", dt.date(2024, 3, 11), fx, fx, "fx_fx_m1"
    )
    assert [r.tags["dagster/asset_partition_range_start"] for r in weekdays] == [
        "2024-03-11|EURUSD"
    ]
    # a weekday that is no key of a pinned family (Tokyo's 2 January) requests nothing
    tokyo = period_run_requests(FAMILIES["pinned"])(
        "XTKS", dt.date(2024, 1, 2), ["7203"], ["7203"], "tokyo_equities_tokyo_m1"
    )
    assert tokyo == []


def test_on_a_pinned_calendars_holiday_dagster_already_lists_the_next_session() -> None:
    """`end_offset=1` counts windows: on a weekday holiday of the pinned calendar (and the
    weekend after an excluded Friday) the window after the last complete one is the next
    session's, so Dagster lists it a day or days early (2025-01-06 from 31 December). Such a key
    run early expands to no session (runs clip to today) and the schedule after that session's
    close runs it; on every other day the keys are exactly the family's."""
    family = FAMILIES["pinned"]
    dates = date_partitions(family)
    early = []
    day = dt.date(2024, 12, 20)
    while day <= dt.date(2025, 1, 20):
        now = dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC)
        got, want = dates.get_partition_keys(current_time=now), family.date_keys(day)
        if got != want:
            assert not family.has_key(day), day
            following = next(
                d for d in family.date_keys(day + dt.timedelta(days=9)) if d > str(day)
            )
            assert got == [*want, following], day
            early.append(day)
        day += dt.timedelta(days=1)
    assert dt.date(2024, 12, 31) in early and dt.date(2025, 1, 13) in early  # New Year, Seijin
    assert dt.date(2024, 12, 28) not in early  # an ordinary weekend
    assert family.sessions("2025-01-06", "XTKS", until=dt.date(2025, 1, 3)) == []
