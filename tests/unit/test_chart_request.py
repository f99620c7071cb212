"""Chart requests: every query parameter validated, dates ISO, bad input a clear BadRequest."""

from __future__ import annotations

import datetime as dt

import pytest

from market_assets.charts.page import standalone_page, static_path
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
    assert static_path("plotly.min.js") is not None and static_path("plotly.min.js").is_file()
    assert static_path("chart.js") is not None
    for name in ("../page.py", "page.html", "", "plotly.min.js/.."):
        assert static_path(name) is None


def test_the_standalone_page_inlines_everything_and_escapes_the_payload() -> None:
    payload = {"request": {"symbol": "X", "timeframe": "H1"}, "note": "</script><b>"}
    text = standalone_page(payload)
    assert "<script src=" not in text and "</script><b>" not in text
    assert "<\\/script><b>" in text
