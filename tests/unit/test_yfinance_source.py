"""YFinanceSource against a local HTTP server answering in Yahoo's chart-endpoint format.

Fixtures in tests/fixtures/vendors/yahoo are hand-written chart responses (synthetic values,
prices serialised through float32 as Yahoo does). Retry waits go through an injected `sleep`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pytest_httpserver import HTTPServer

from market_assets.core.bars import BAR_COLUMNS, BAR_PANDAS_DTYPES, to_arrow
from market_assets.core.row_rules import apply_row_rules
from market_assets.core.universe import Instrument, default_universe
from resources.sources.base import SourceError
from resources.sources.http import RetryPolicy
from resources.sources.yfinance_source import YFinanceSource, clean_float32

pytestmark = pytest.mark.timeout(60)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vendors" / "yahoo"
UNIVERSE = default_universe()
TOYOTA, USDJPY, N225 = (UNIVERSE.get(s) for s in ("7203", "USDJPY", "N225"))
D = dt.date
JAN4 = D(2024, 1, 4)
FAST = RetryPolicy(max_retries=3, backoff_s=0.001, max_backoff_s=0.01, max_total_s=5, jitter=0)
CHART_7203 = "/v8/finance/chart/7203.T"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def epoch(text: str) -> str:
    return str(int(pd.Timestamp(text).timestamp()))


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make(httpserver: HTTPServer, sleeps: Sleeps) -> Iterator[Callable[..., YFinanceSource]]:
    def build(**kwargs: Any) -> YFinanceSource:
        kwargs.setdefault("retry", FAST)
        kwargs.setdefault("timeout_s", 5.0)
        return YFinanceSource(base_url=httpserver.url_for("/"), sleep=sleeps, **kwargs)

    yield build
    httpserver.check_assertions()


def assert_bar_frame(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == list(BAR_COLUMNS)
    for column, dtype in BAR_PANDAS_DTYPES.items():
        assert frame[column].dtype == dtype, column
    assert (frame["source"] == "yfinance").all()


# --- daily --------------------------------------------------------------------------------------


def test_daily_bars_use_session_opens_and_adjclose_factor(
    httpserver: HTTPServer, make: Any
) -> None:
    httpserver.expect_request(
        CHART_7203,
        query_string={
            # the first open less two weeks, so the previous session's factor is in the answer
            "period1": epoch("2023-12-21T00:00Z"),
            "period2": epoch("2024-01-10T06:00Z"),  # the last close, plus a day
            "interval": "1d",
            "includePrePost": "false",
        },
    ).respond_with_json(load("chart_7203T_1d.json"))

    bars = make().fetch_many([TOYOTA], [JAN4, D(2024, 1, 5), D(2024, 1, 9)], "D1")

    assert_bar_frame(bars)
    assert list(bars["session_date"]) == [JAN4, D(2024, 1, 5), D(2024, 1, 9)]
    assert list(bars["ts"]) == [
        pd.Timestamp(f"2024-01-{d:02d} 00:00", tz="UTC") for d in (4, 5, 9)
    ]  # 09:00 JST, from our calendar
    first = bars.iloc[0]
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        2550.5,
        2612.0,
        2541.5,
        2600.5,
    )
    # adjclose / close stays at 0.975 (float32 noise only): no event in the window
    assert (bars["adj_factor"] == 1.0).all()
    assert (bars["timeframe"] == "D1").all()
    to_arrow(bars)


def test_cumulative_adjclose_becomes_an_event_on_the_ex_date(
    httpserver: HTTPServer, make: Any
) -> None:
    """A dividend with ex-date Jan 9 shows as a step of adjclose / close; a null bar on Jan 5
    in between neither invents an event nor hides the step."""
    chart = load("chart_7203T_1d.json")
    result = chart["chart"]["result"][0]
    closes = result["indicators"]["quote"][0]["close"]
    result["indicators"]["adjclose"] = [{"adjclose": [closes[0] * 0.97, None, closes[2]]}]
    httpserver.expect_request(CHART_7203).respond_with_json(chart)

    bars = make().fetch_many([TOYOTA], [JAN4, D(2024, 1, 5), D(2024, 1, 9)], "D1")

    factors = dict(zip(bars["session_date"], bars["adj_factor"], strict=True))
    assert factors[JAN4] == 1.0 and factors[D(2024, 1, 5)] == 1.0
    assert factors[D(2024, 1, 9)] == pytest.approx(0.97, rel=1e-6)


def test_daily_session_filtering_keeps_only_requested_sessions(
    httpserver: HTTPServer, make: Any
) -> None:
    httpserver.expect_request(CHART_7203).respond_with_json(load("chart_7203T_1d.json"))
    bars = make().fetch_many([TOYOTA], [JAN4, D(2024, 1, 8), D(2024, 1, 9)], "D1")
    assert list(bars["session_date"]) == [JAN4, D(2024, 1, 9)]  # the 5th was not asked for
    assert make().fetch(TOYOTA, D(2024, 1, 8), "D1").empty  # a holiday costs no request
    assert len(httpserver.log) == 1


# --- minute -------------------------------------------------------------------------------------


def test_minute_bars_keep_null_gaps_as_nan_and_epoch_seconds_are_utc(
    httpserver: HTTPServer, make: Any
) -> None:
    httpserver.expect_request(
        CHART_7203,
        query_string={
            "period1": epoch("2024-01-04T00:00Z"),
            "period2": epoch("2024-01-04T06:00Z"),
            "interval": "1m",
            "includePrePost": "false",
        },
    ).respond_with_json(load("chart_7203T_1m.json"))

    bars = make().fetch(TOYOTA, JAN4, "M1")

    assert_bar_frame(bars)
    assert list(bars["ts"].dt.strftime("%H:%M")) == [
        "00:00",
        "00:01",
        "00:02",
        "02:29",
        "03:30",
        "05:59",
        "06:00",  # Yahoo's 15:00 JST closing print: outside the session window
    ]
    gap = bars.iloc[1]
    assert np.isnan([gap[c] for c in ("open", "high", "low", "close", "volume")]).all()
    assert (bars["session_date"] == JAN4).all() and (bars["adj_factor"] == 1.0).all()

    outcome = apply_row_rules(bars, TOYOTA, JAN4)
    assert sorted(outcome.rejected["rule"]) == ["non_finite", "outside_partition"]
    assert outcome.passed["close"].iloc[0] == 2555.5
    to_arrow(outcome.passed)


def test_fx_minute_bars_follow_the_new_york_session_across_dst(
    httpserver: HTTPServer, make: Any
) -> None:
    """The FX session of Monday 2024-03-11 opens Sunday 17:00 New York = 21:00 UTC (summer
    time began that Sunday); the bars just before and at the next open are other sessions."""
    httpserver.expect_request(
        "/v8/finance/chart/USDJPY=X",
        query_string={
            "period1": epoch("2024-03-10T21:00Z"),
            "period2": epoch("2024-03-11T21:00Z"),
            "interval": "1m",
            "includePrePost": "false",
        },
    ).respond_with_json(load("chart_USDJPY_1m.json"))

    bars = make().fetch(USDJPY, D(2024, 3, 11))

    assert list(bars["ts"]) == [
        pd.Timestamp("2024-03-10 21:00", tz="UTC"),
        pd.Timestamp("2024-03-10 21:01", tz="UTC"),
        pd.Timestamp("2024-03-11 20:59", tz="UTC"),
    ]
    assert (bars["session_date"] == D(2024, 3, 11)).all()
    assert list(bars["close"]) == [147.063, 147.055, 146.948]  # float32 noise removed
    assert apply_row_rules(bars, USDJPY, D(2024, 3, 11)).rejected_count == 0
    to_arrow(bars)


def test_minute_requests_are_cut_into_seven_day_chunks(httpserver: HTTPServer, make: Any) -> None:
    httpserver.expect_request("/v8/finance/chart/USDJPY=X").respond_with_json(
        {
            "chart": {
                "result": [{"meta": {"dataGranularity": "1m"}, "indicators": {}}],
                "error": None,
            }
        }
    )
    days = [D(2024, 3, 4) + dt.timedelta(days=i) for i in range(12)]

    assert make().fetch_many([USDJPY], days, "M1").empty  # Yahoo: no timestamps, no bars

    windows = [(r.args["period1"], r.args["period2"]) for r, _ in httpserver.log]
    assert windows == [
        (epoch("2024-03-03T22:00Z"), epoch("2024-03-08T22:00Z")),  # New York winter time
        (epoch("2024-03-10T21:00Z"), epoch("2024-03-15T21:00Z")),  # summer time
    ]


def test_symbols_are_quoted_in_the_path(httpserver: HTTPServer, make: Any) -> None:
    httpserver.expect_request("/v8/finance/chart/^N225").respond_with_json(
        {"chart": {"result": [{"meta": {}, "indicators": {"quote": [{}]}}], "error": None}}
    )
    assert make().fetch(N225, JAN4, "D1").empty
    assert len(httpserver.log) == 1


# --- failures -----------------------------------------------------------------------------------


def test_429_with_retry_after_then_success(
    httpserver: HTTPServer, make: Any, sleeps: Sleeps
) -> None:
    httpserver.expect_ordered_request(CHART_7203).respond_with_data(
        "Too Many Requests", status=429, headers={"Retry-After": "1"}
    )
    httpserver.expect_ordered_request(CHART_7203).respond_with_json(load("chart_7203T_1d.json"))

    assert len(make().fetch(TOYOTA, JAN4, "D1")) == 1
    assert sleeps == [1.0]


def test_repeated_500_is_a_retryable_error(
    httpserver: HTTPServer, make: Any, sleeps: Sleeps
) -> None:
    httpserver.expect_request(CHART_7203).respond_with_data("oops", status=502)
    with pytest.raises(SourceError, match="HTTP 502 after 4 attempts") as info:
        make().fetch(TOYOTA, JAN4, "D1")
    assert info.value.retryable and len(httpserver.log) == 4 and len(sleeps) == 3


def test_malformed_json_is_not_retryable(httpserver: HTTPServer, make: Any) -> None:
    httpserver.expect_request(CHART_7203).respond_with_data(
        '{"chart": {"result": [', content_type="application/json"
    )
    with pytest.raises(SourceError, match=r"malformed JSON from /v8/finance/chart/7203\.T") as info:
        make().fetch(TOYOTA, JAN4, "D1")
    assert not info.value.retryable


def test_unknown_symbol_reports_yahoos_description(httpserver: HTTPServer, make: Any) -> None:
    httpserver.expect_request(CHART_7203).respond_with_json(
        load("chart_not_found.json"), status=404
    )
    with pytest.raises(SourceError, match=r"HTTP 404.*No data found") as info:
        make().fetch(TOYOTA, JAN4, "D1")
    assert not info.value.retryable


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r["indicators"]["quote"][0]["close"].pop(), r"quote\[0\]\.close"),
        (lambda r: r.__setitem__("timestamp", ["x"]), "'timestamp'"),
        (lambda r: r["indicators"].pop("quote"), r"indicators\.quote\[0\]"),
        (lambda r: r["meta"].__setitem__("dataGranularity", "1d"), "answered '1d'"),
    ],
)
def test_malformed_charts_name_the_field(
    httpserver: HTTPServer, make: Any, mutate: Callable[[dict[str, Any]], Any], message: str
) -> None:
    chart = load("chart_7203T_1m.json")
    mutate(chart["chart"]["result"][0])
    httpserver.expect_request(CHART_7203).respond_with_json(chart)
    with pytest.raises(SourceError, match=message) as info:
        make().fetch(TOYOTA, JAN4, "M1")
    assert not info.value.retryable


def test_chart_error_in_a_200_response(httpserver: HTTPServer, make: Any) -> None:
    httpserver.expect_request(CHART_7203).respond_with_json(
        {
            "chart": {
                "result": None,
                "error": {
                    "code": "Unprocessable Entity",
                    "description": "1m data not available for startTime=1704326400",
                },
            }
        }
    )
    with pytest.raises(SourceError, match="1m data not available") as info:
        make().fetch(TOYOTA, JAN4, "M1")
    assert not info.value.retryable


# --- transport and helpers ----------------------------------------------------------------------


def test_default_curl_cffi_session_talks_to_the_local_server(httpserver: HTTPServer) -> None:
    """The production transport (curl_cffi impersonating Chrome) against the same server."""
    pytest.importorskip("curl_cffi")
    httpserver.expect_request(CHART_7203).respond_with_json(load("chart_7203T_1d.json"))
    source = YFinanceSource(base_url=httpserver.url_for("/"), retry=FAST)
    assert type(source._http.session).__module__.startswith("curl_cffi")
    assert len(source.fetch(TOYOTA, JAN4, "D1")) == 1


def test_clean_float32_restores_decimals_and_leaves_doubles_alone() -> None:
    noisy = np.array([149.8699951171875, 2650.199951171875, np.nan, 0.1 + 0.2, 2600.5])
    cleaned = clean_float32(noisy)
    assert cleaned[0] == 149.87 and cleaned[1] == 2650.2 and cleaned[4] == 2600.5
    assert np.isnan(cleaned[2])
    assert cleaned[3] == 0.1 + 0.2  # not a float32: kept bit for bit


def test_unsupported_timeframe_and_missing_vendor_symbol(make: Any) -> None:
    with pytest.raises(SourceError, match="M1 and D1 only"):
        make().fetch(TOYOTA, JAN4, "M5")
    bare = Instrument(
        symbol="TOPIX",
        kind="index",
        calendar="XTKS",
        currency="JPY",
        start_price=2500.0,
        tick_size=0.01,
    )
    with pytest.raises(SourceError, match="no yfinance symbol"):
        make().fetch(bare, JAN4, "D1")
