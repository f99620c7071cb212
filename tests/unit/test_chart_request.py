"""Chart requests: every query parameter validated, dates ISO, bad input a clear BadRequest."""

from __future__ import annotations

import datetime as dt
import hashlib
import tomllib
from pathlib import Path

import pytest

from market_assets.charts.page import (
    LIBRARY,
    SCRIPTS,
    VENDOR,
    library_path,
    served_page,
    standalone_page,
    static_path,
    static_version,
    vendored,
)
from market_assets.charts.request import DEFAULT_LAST, BadRequest, parse_request
from market_assets.core.timeframes import Timeframe

UTC = dt.UTC


def test_a_window_of_dates_includes_the_end_date() -> None:
    req = parse_request({"symbol": ["eurusd"], "tf": ["h1"], "start": ["2024-03-01"],
                         "end": ["2024-03-05"]})  # fmt: skip
    assert (req.symbol, req.timeframe) == ("EURUSD", Timeframe.H1)
    assert req.start == dt.datetime(2024, 3, 1, tzinfo=UTC)
    assert req.end == dt.datetime(2024, 3, 6, tzinfo=UTC)
    assert req.last is None and req.adjusted is False


def test_times_keep_their_offset_and_the_latest_n_is_the_default() -> None:
    req = parse_request({"symbol": ["7203"], "start": ["2024-03-01T09:00+09:00"]})
    assert req.start == dt.datetime(2024, 3, 1, tzinfo=UTC)
    assert parse_request({"symbol": ["USDJPY"]}).last == DEFAULT_LAST
    assert parse_request({"symbol": ["USDJPY"], "last": ["5"], "adjusted": ["1"]}).adjusted


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "symbol is required"),
        ({"symbol": ["A B"]}, "invalid symbol"),
        ({"symbol": ["X" * 500]}, "chars)"),  # long input is cut in the message
        ({"symbol": ["X"], "tf": ["H2"]}, "unknown timeframe"),
        ({"symbol": ["X"], "start": ["2024-02-30"]}, "start must be an ISO 8601"),
        ({"symbol": ["X"], "start": ["2024-03-02"], "end": ["2024-03-01"]}, "end must be after"),
        ({"symbol": ["X"], "last": ["1e9"]}, "last must be"),
        ({"symbol": ["X"], "adjusted": ["2"]}, "adjusted must be"),
        ({"symbol": ["X", "Y"]}, "given 2 times"),
        ({"symbol": ["X"], "where": ["1=1"]}, "unknown parameter"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(params: dict, message: str) -> None:
    with pytest.raises(BadRequest, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_request(params)


def test_only_listed_static_files_are_served() -> None:
    for name in SCRIPTS:
        assert static_path(name) is not None and static_path(name).is_file(), name
    assert static_path("lightweight-charts.js") == library_path()
    for name in ("../page.py", "page.html", "", "lightweight-charts.js/..", "vendor/LICENSE"):
        assert static_path(name) is None


def test_the_vendored_library_is_the_file_its_record_names() -> None:
    """VENDOR.json (scripts/vendor_chart_lib.sh) names the version and the file's sha256: a
    hand-edited or half-updated vendor folder fails here, not in a user's browser."""
    record = vendored()
    data = library_path().read_bytes()
    assert record["package"] == "lightweight-charts" and record["file"] == LIBRARY
    assert record["sha256"] == hashlib.sha256(data).hexdigest()
    assert record["bytes"] == len(data) < 400_000
    assert f"Lightweight Charts™ v{record['version']}".encode() in data[:200]
    assert "Apache License" in (VENDOR / "LICENSE").read_text()
    assert "TradingView" in (VENDOR / "NOTICE").read_text()


def test_the_vendored_files_ship_in_the_wheel() -> None:
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    config = tomllib.loads(pyproject.read_text())
    assert "charts/static/vendor/*" in config["tool"]["setuptools"]["package-data"]["market_assets"]
    assert not any(d.startswith("plotly") for d in config["project"]["dependencies"])


def test_the_served_page_names_each_script_by_its_content() -> None:
    page = served_page()
    for name in SCRIPTS:
        assert f'src="static/{name}?v={static_version(name)}"' in page
    assert page.index("lightweight-charts.js") < page.index("chart.js") < page.index("page.js")


def test_the_standalone_page_inlines_everything_and_escapes_the_payload() -> None:
    payload = {"request": {"symbol": "X", "timeframe": "H1"}, "note": "</script><b>"}
    text = standalone_page(payload)
    assert "<script src=" not in text and "</script><b>" not in text
    assert "<\\/script><b>" in text
    assert f"Lightweight Charts\u2122 v{vendored()['version']}" in text  # the library, inline
