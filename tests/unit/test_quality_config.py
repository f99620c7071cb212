"""The `quality` section of universe.yaml: defaults, tolerances, deadlines, refusals."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from market_assets.core.universe import DEFAULT_UNIVERSE_PATH, UniverseError, parse_universe
from market_assets.quality.freshness import due_session

DOC: dict[str, Any] = yaml.safe_load(DEFAULT_UNIVERSE_PATH.read_text())


def _with_quality(quality: Any) -> dict[str, Any]:
    doc = copy.deepcopy(DOC)
    doc["quality"] = quality
    return doc


def test_packaged_file_sets_tolerances_and_deadlines() -> None:
    quality = parse_universe(DOC).quality
    assert quality.tolerance("generator") == 0.0 and quality.tolerance("landing") == 0.02
    assert quality.deadlines["XTKS"].describe() == "16:30 Asia/Tokyo"
    assert quality.deadlines["FX24X5"].describe() == "17:30 America/New_York"


def test_missing_section_falls_back_to_defaults() -> None:
    doc = copy.deepcopy(DOC)
    del doc["quality"]
    assert parse_universe(doc).quality.tolerance("yfinance") == 0.10


@pytest.mark.parametrize(
    ("quality", "message"),
    [
        ({"row_count_tolerance": {"bloomberg": 0.1}}, "unknown source 'bloomberg'"),
        ({"row_count_tolerance": {"landing": 1.5}}, "share in [0, 1)"),
        ({"freshness": {"XMARS": {"deadline": "17:00"}}}, "unknown calendar"),
        ({"freshness": {"XTKS": {"deadline": "4:30pm"}}}, "must be 'HH:MM'"),
        ({"freshness": {"XTKS": {"deadline": "16:30", "timezone": "Mars/Base"}}}, "time zone"),
        ({"tolerance": {}}, "allowed keys"),
    ],
)
def test_invalid_quality_settings_are_refused(quality: Any, message: str) -> None:
    with pytest.raises(UniverseError, match="quality") as info:
        parse_universe(_with_quality(quality))
    assert message in str(info.value)


def test_due_session_follows_deadline_and_calendar() -> None:
    deadlines = parse_universe(DOC).quality.deadlines
    tokyo, ny = ZoneInfo("Asia/Tokyo"), ZoneInfo("America/New_York")
    tue = dt.date(2024, 3, 12)
    assert due_session(deadlines["XTKS"], dt.datetime(2024, 3, 12, 16, 29, tzinfo=tokyo)) == (
        dt.date(2024, 3, 11)
    )
    assert due_session(deadlines["XTKS"], dt.datetime(2024, 3, 12, 16, 30, tzinfo=tokyo)) == tue
    # Saturday: Friday's session is due; 20 March 2024 is a Tokyo holiday.
    assert due_session(deadlines["XTKS"], dt.datetime(2024, 3, 16, 9, tzinfo=tokyo)) == (
        dt.date(2024, 3, 15)
    )
    assert due_session(deadlines["XTKS"], dt.datetime(2024, 3, 20, 18, tzinfo=tokyo)) == (
        dt.date(2024, 3, 19)
    )
    # FX: 17:30 New York, whatever the UTC offset (New York moved to summer time on 10 March).
    assert due_session(deadlines["FX24X5"], dt.datetime(2024, 3, 12, 21, 31, tzinfo=dt.UTC)) == tue
    assert due_session(deadlines["FX24X5"], dt.datetime(2024, 3, 12, 17, 29, tzinfo=ny)) == (
        dt.date(2024, 3, 11)
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        due_session(deadlines["XNYS"], dt.datetime(2024, 3, 12, 21))
