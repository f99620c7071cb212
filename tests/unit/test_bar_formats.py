"""`market-assets bars --format csv|json`: fields, UTC timestamps, session dates, round trips."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pandas as pd
import pytest

from market_assets.cli import bar_formats


def _frame(stamps: list[str], n: int | None = None) -> pd.DataFrame:
    index = pd.DatetimeIndex(pd.to_datetime(stamps, utc=True), name="ts")
    count = len(index) if n is None else n
    return pd.DataFrame(
        {
            "open": [150.125 + i for i in range(count)],
            "high": [151.5 + i for i in range(count)],
            "low": [149.0 + i for i in range(count)],
            "close": [0.1 + 0.2 + i for i in range(count)],  # not exact in binary
            "volume": [1000.0 * (i + 1) for i in range(count)],
        },
        index=index,
    )


# An FX bar at 22:00 UTC on Tuesday opens Wednesday's session (17:00 New York); a Tokyo bar
# at 00:00 UTC is 09:00 JST of the same day.
FX = _frame(["2024-03-12T21:00:00Z", "2024-03-12T22:00:00Z"])


def test_csv_has_a_header_then_one_bar_a_line_with_iso_utc_times() -> None:
    text = bar_formats.to_csv(FX, "FX24X5")
    lines = text.splitlines()
    assert lines[0] == "ts,session_date,open,high,low,close,volume"
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 2 and len(lines) == 3
    assert [r["ts"] for r in rows] == ["2024-03-12T21:00:00Z", "2024-03-12T22:00:00Z"]
    assert [r["session_date"] for r in rows] == ["2024-03-13", "2024-03-13"]
    parsed = dt.datetime.fromisoformat(rows[0]["ts"])
    assert parsed == dt.datetime(2024, 3, 12, 21, tzinfo=dt.UTC)
    assert float(rows[0]["close"]) == FX["close"].iloc[0]  # shortest round trip, nothing lost
    assert float(rows[1]["volume"]) == 2000.0


def test_json_is_a_list_of_objects_with_the_same_fields() -> None:
    records = json.loads(bar_formats.to_json(FX, "FX24X5"))
    assert isinstance(records, list) and len(records) == 2
    assert all(list(r) == list(bar_formats.FIELDS) for r in records)
    assert records[0]["ts"] == "2024-03-12T21:00:00Z"
    assert records[0]["session_date"] == "2024-03-13"
    assert records[0]["open"] == 150.125 and records[1]["volume"] == 2000.0
    from_csv = list(csv.DictReader(io.StringIO(bar_formats.to_csv(FX, "FX24X5"))))
    assert [r["ts"] for r in records] == [r["ts"] for r in from_csv]


def test_session_dates_follow_the_symbols_calendar() -> None:
    tokyo = _frame(["2024-03-12T00:00:00Z", "2024-03-12T12:00:00Z"])  # 09:00 and 21:00 JST
    records = bar_formats.bar_records(tokyo, "XTKS")
    assert [r["session_date"] for r in records] == ["2024-03-12", None]  # 21:00 is after close
    assert bar_formats.bar_records(tokyo, None)[0]["session_date"] is None  # no calendar
    assert bar_formats.to_csv(tokyo, None).splitlines()[1].split(",")[1] == ""


def test_missing_values_are_empty_in_csv_and_null_in_json() -> None:
    frame = _frame(["2024-03-12T21:00:00Z"])
    frame.loc[frame.index[0], "volume"] = float("nan")
    assert bar_formats.to_csv(frame, "FX24X5").splitlines()[1].endswith(",")
    assert json.loads(bar_formats.to_json(frame, "FX24X5"))[0]["volume"] is None


@pytest.mark.parametrize("render", [bar_formats.to_csv, bar_formats.to_json])
def test_no_bars_still_parse(render: object) -> None:
    empty = _frame([])
    text = render(empty, "FX24X5")  # type: ignore[operator]
    if render is bar_formats.to_csv:
        assert text.splitlines() == [",".join(bar_formats.FIELDS)]
    else:
        assert json.loads(text) == []
