"""JQuantsSource against a local HTTP server answering in J-Quants' documented formats.

Fixtures in tests/fixtures/vendors/jquants are hand-written responses in the v1/v2 layouts
(synthetic values, no vendor data). Retry waits go through an injected `sleep`, so no test
waits for a back-off.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from market_assets.core.bars import BAR_COLUMNS, BAR_PANDAS_DTYPES, to_arrow
from market_assets.core.row_rules import apply_row_rules
from market_assets.core.universe import Instrument, default_universe
from resources.sources.base import SourceError
from resources.sources.http import RetryPolicy, parse_retry_after
from resources.sources.jquants import JQuantsCredentials, JQuantsSource

pytestmark = pytest.mark.timeout(60)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vendors" / "jquants"
UNIVERSE = default_universe()
TOYOTA, SONY, SOFTBANK = (UNIVERSE.get(s) for s in ("7203", "6758", "9984"))
D = dt.date
JAN4 = D(2024, 1, 4)

API_KEY = "test-api-key-5f1c9e0b7d"
MAIL = "quant@example.org"
PASSWORD = "pw-Secret-91d3"
REFRESH = "refresh-token-77aa31"
ID1 = "id-token-first-0c1d"
ID2 = "id-token-second-9e8f"
SECRETS = (API_KEY, MAIL, PASSWORD, REFRESH, ID1, ID2)
FAST = RetryPolicy(max_retries=3, backoff_s=0.001, max_backoff_s=0.01, max_total_s=5, jitter=0)


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


class Sleeps(list[float]):
    """An injected `sleep` that records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make(httpserver: HTTPServer, sleeps: Sleeps) -> Iterator[Callable[..., JQuantsSource]]:
    def build(credentials: JQuantsCredentials | None = None, **kwargs: Any) -> JQuantsSource:
        kwargs.setdefault("retry", FAST)
        kwargs.setdefault("timeout_s", 5.0)
        return JQuantsSource(
            credentials or JQuantsCredentials(api_key=API_KEY),
            base_url=httpserver.url_for("/"),
            sleep=sleeps,
            **kwargs,
        )

    yield build
    httpserver.check_assertions()


def v1_credentials() -> JQuantsCredentials:
    return JQuantsCredentials(mail_address=MAIL, password=PASSWORD)


def assert_bar_frame(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == list(BAR_COLUMNS)
    for column, dtype in BAR_PANDAS_DTYPES.items():
        assert frame[column].dtype == dtype, column
    assert (frame["source"] == "jquants").all()


def assert_no_secret(exc: BaseException) -> None:
    """Neither the error nor anything chained to it mentions a credential."""
    seen: BaseException | None = exc
    while seen is not None:
        for text in (str(seen), repr(seen), *map(str, seen.args)):
            for secret in SECRETS:
                assert secret not in text, f"{secret!r} leaked into {type(seen).__name__}"
        seen = seen.__cause__ or seen.__context__


# --- daily bars, v2 ---------------------------------------------------------------------------


def test_daily_all_codes_per_date_over_three_pages(httpserver: HTTPServer, make: Any) -> None:
    """Many symbols, one date: one paginated `date=` query, filtered to the requested codes."""
    path = "/v2/equities/bars/daily"
    keys = [None, "value1.20240104.13010", "value2.20240104.86970"]
    for page, key in enumerate(keys, 1):
        query = {"date": "20240104", **({"pagination_key": key} if key else {})}
        httpserver.expect_ordered_request(
            path, method="GET", query_string=query, headers={"x-api-key": API_KEY}
        ).respond_with_json(load(f"v2_daily_all_codes_20240104_page{page}.json"))

    bars = make().fetch_many([TOYOTA, SONY, SOFTBANK], [JAN4], "D1")

    assert len(httpserver.log) == 3
    assert_bar_frame(bars)
    assert list(bars["symbol"]) == ["6758", "7203", "9984"]  # 13010, 86970, 99830 filtered out
    toyota = bars[bars["symbol"] == "7203"].iloc[0]
    assert toyota["ts"] == pd.Timestamp("2024-01-04 00:00", tz="UTC")  # 09:00 JST open
    assert toyota["session_date"] == JAN4
    assert (toyota["open"], toyota["high"], toyota["low"], toyota["close"]) == (
        2550.5,
        2612.0,
        2541.5,
        2600.5,
    )
    assert toyota["volume"] == 21203400.0 and toyota["adj_factor"] == 1.0
    assert (bars["timeframe"] == "D1").all()
    to_arrow(bars)


def test_one_code_over_a_range_uses_code_from_to_and_keeps_halted_day_as_nan(
    httpserver: HTTPServer, make: Any
) -> None:
    """One symbol, consecutive sessions (the 8th is a holiday): one `code=&from=&to=` query.
    The halted day's null prices come through as NaN and the row rules quarantine it."""
    httpserver.expect_request(
        "/v2/equities/bars/daily",
        query_string={"code": "72030", "from": "20240104", "to": "20240109"},
    ).respond_with_json(load("v2_daily_72030_range.json"))
    days = [JAN4, D(2024, 1, 5), D(2024, 1, 8), D(2024, 1, 9)]

    bars = make().fetch_many([TOYOTA], days, "D1")

    assert len(httpserver.log) == 1
    assert list(bars["session_date"]) == [JAN4, D(2024, 1, 5), D(2024, 1, 9)]
    halted = bars.iloc[1]
    assert halted["ts"] == pd.Timestamp("2024-01-05 00:00", tz="UTC")
    assert np.isnan([halted[c] for c in ("open", "high", "low", "close", "volume")]).all()
    assert halted["adj_factor"] == 1.0
    assert bars.iloc[2]["adj_factor"] == 0.5  # the ex-date's factor, stored as delivered

    outcome = apply_row_rules(bars[bars["session_date"] == D(2024, 1, 5)], TOYOTA, D(2024, 1, 5))
    assert list(outcome.rejected["rule"]) == ["non_finite"]
    good = apply_row_rules(bars[bars["session_date"] == JAN4], TOYOTA, JAN4)
    assert good.rejected_count == 0
    to_arrow(good.passed)


def test_session_filtering_drops_unrequested_days_and_skips_non_sessions(
    httpserver: HTTPServer, make: Any
) -> None:
    """A Saturday and a holiday cost no request; vendor rows for other days are filtered."""
    payload = load("v2_daily_72030_range.json")
    httpserver.expect_request(
        "/v2/equities/bars/daily", query_string={"code": "72030", "date": "20240104"}
    ).respond_with_json(payload)  # answers more days than asked
    source = make()

    bars = source.fetch_many([TOYOTA], [JAN4, D(2024, 1, 6), D(2024, 1, 8)], "D1")
    assert list(bars["session_date"]) == [JAN4]
    assert source.fetch(TOYOTA, D(2024, 1, 8), "D1").empty  # holiday: no request at all
    assert len(httpserver.log) == 1


# --- minute bars --------------------------------------------------------------------------------


def test_minute_bars_convert_jst_to_utc_and_label_sessions(
    httpserver: HTTPServer, make: Any
) -> None:
    httpserver.expect_request(
        "/v2/equities/bars/minute", query_string={"code": "72030", "date": "20240104"}
    ).respond_with_json(load("v2_minute_72030_20240104.json"))

    bars = make().fetch(TOYOTA, JAN4, "M1")

    assert_bar_frame(bars)
    assert list(bars["ts"].dt.strftime("%H:%M")) == [
        "00:00",  # 09:00 JST
        "00:01",
        "02:29",  # 11:29, the last minute before lunch
        "03:30",  # 12:30 after lunch
        "05:59",
        "06:00",  # 15:00: the close in January 2024, so not a bar opening inside the session
    ]
    assert (bars["session_date"] == JAN4).all() and (bars["timeframe"] == "M1").all()
    assert (bars["adj_factor"] == 1.0).all()
    outcome = apply_row_rules(bars, TOYOTA, JAN4)
    assert list(outcome.rejected["rule"]) == ["outside_partition"]  # quarantined, not lost
    to_arrow(outcome.passed)


def test_minute_bars_need_the_v2_api(make: Any) -> None:
    with pytest.raises(SourceError, match="v2") as info:
        make(v1_credentials()).fetch(TOYOTA, JAN4, "M1")
    assert not info.value.retryable


# --- v1 token flow ------------------------------------------------------------------------------


def expect_auth_user(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(
        "/v1/token/auth_user", method="POST", json={"mailaddress": MAIL, "password": PASSWORD}
    ).respond_with_json({"refreshToken": REFRESH})


def expect_auth_refresh(httpserver: HTTPServer, id_token: str) -> None:
    httpserver.expect_ordered_request(
        "/v1/token/auth_refresh", method="POST", query_string={"refreshtoken": REFRESH}
    ).respond_with_json({"idToken": id_token})


@pytest.mark.parametrize(
    ("status", "message"),
    [(401, "The incoming token is invalid or expired."), (400, "expired token")],
)
def test_v1_token_flow_refreshes_once_on_401_or_expired_400(
    httpserver: HTTPServer, make: Any, status: int, message: str
) -> None:
    quotes = "/v1/prices/daily_quotes"
    expect_auth_user(httpserver)
    expect_auth_refresh(httpserver, ID1)
    httpserver.expect_ordered_request(
        quotes, headers={"Authorization": f"Bearer {ID1}"}
    ).respond_with_json({"message": message}, status=status)
    expect_auth_refresh(httpserver, ID2)
    httpserver.expect_ordered_request(
        quotes, query_string={"date": "20240104"}, headers={"Authorization": f"Bearer {ID2}"}
    ).respond_with_json(load("v1_daily_quotes_20240104.json"))

    bars = make(v1_credentials()).fetch_many([TOYOTA, SONY], [JAN4], "D1")

    assert len(httpserver.log) == 5
    assert list(bars["symbol"]) == ["6758", "7203"]
    assert bars.set_index("symbol").loc["7203", "close"] == 2600.5  # v1 long field names
    to_arrow(bars)


def test_v1_id_token_is_renewed_before_it_expires(httpserver: HTTPServer, make: Any) -> None:
    now = [1000.0]
    expect_auth_refresh(httpserver, ID1)
    httpserver.expect_ordered_request(
        "/v1/prices/daily_quotes", headers={"Authorization": f"Bearer {ID1}"}
    ).respond_with_json(load("v1_daily_quotes_20240104.json"))
    expect_auth_refresh(httpserver, ID2)
    httpserver.expect_ordered_request(
        "/v1/prices/daily_quotes", headers={"Authorization": f"Bearer {ID2}"}
    ).respond_with_json(load("v1_daily_quotes_20240104.json"))
    source = make(JQuantsCredentials(refresh_token=REFRESH), clock=lambda: now[0])

    assert len(source.fetch(TOYOTA, JAN4, "D1")) == 1
    now[0] += 23.5 * 3600  # within the last hour of the 24 h id token
    assert len(source.fetch(TOYOTA, JAN4, "D1")) == 1
    assert len(httpserver.log) == 4


def test_v1_rejected_refresh_token_is_renewed_from_mail_and_password(
    httpserver: HTTPServer, make: Any
) -> None:
    httpserver.expect_ordered_request("/v1/token/auth_refresh").respond_with_json(
        {"message": "The incoming token is invalid or expired."}, status=400
    )
    expect_auth_user(httpserver)
    expect_auth_refresh(httpserver, ID1)
    httpserver.expect_ordered_request(
        "/v1/prices/daily_quotes", headers={"Authorization": f"Bearer {ID1}"}
    ).respond_with_json(load("v1_daily_quotes_20240104.json"))
    creds = JQuantsCredentials(
        refresh_token="stale-refresh-token", mail_address=MAIL, password=PASSWORD
    )

    assert len(make(creds).fetch(TOYOTA, JAN4, "D1")) == 1


def test_v1_401_after_refresh_is_credentials_rejected(httpserver: HTTPServer, make: Any) -> None:
    expect_auth_user(httpserver)
    expect_auth_refresh(httpserver, ID1)
    httpserver.expect_ordered_request("/v1/prices/daily_quotes").respond_with_json(
        {"message": "The incoming token is invalid or expired."}, status=401
    )
    expect_auth_refresh(httpserver, ID2)
    httpserver.expect_ordered_request("/v1/prices/daily_quotes").respond_with_json(
        {"message": "The incoming token is invalid or expired."}, status=401
    )
    with pytest.raises(SourceError, match=r"credentials rejected.*after refreshing") as info:
        make(v1_credentials()).fetch(TOYOTA, JAN4, "D1")
    assert not info.value.retryable
    assert_no_secret(info.value)


# --- failures -----------------------------------------------------------------------------------


def test_429_with_retry_after_then_success(
    httpserver: HTTPServer, make: Any, sleeps: Sleeps
) -> None:
    path = "/v2/equities/bars/daily"
    httpserver.expect_ordered_request(path).respond_with_json(
        {"message": "Rate limit exceeded"}, status=429, headers={"Retry-After": "2"}
    )
    httpserver.expect_ordered_request(path).respond_with_json(load("v2_daily_72030_range.json"))

    bars = make().fetch(TOYOTA, JAN4, "D1")

    assert len(bars) == 1 and sleeps == [2.0]  # the server's Retry-After, not our back-off


def test_rate_limit_longer_than_the_budget_fails_fast_as_retryable(
    httpserver: HTTPServer, make: Any, sleeps: Sleeps
) -> None:
    httpserver.expect_request("/v2/equities/bars/daily").respond_with_json(
        {"message": "Rate limit exceeded"}, status=429, headers={"Retry-After": "3600"}
    )
    with pytest.raises(SourceError, match="budget") as info:
        make().fetch(TOYOTA, JAN4, "D1")
    assert info.value.retryable and sleeps == [] and len(httpserver.log) == 1


def test_repeated_500_is_a_retryable_error(
    httpserver: HTTPServer, make: Any, sleeps: Sleeps
) -> None:
    httpserver.expect_request("/v2/equities/bars/daily").respond_with_data(
        "upstream unavailable", status=500
    )
    with pytest.raises(SourceError, match="HTTP 500 after 3 attempts") as info:
        make(max_retries=2).fetch(TOYOTA, JAN4, "D1")
    assert info.value.retryable
    assert len(httpserver.log) == 3 and len(sleeps) == 2
    assert sleeps[1] > sleeps[0]  # exponential back-off


def test_timeout_is_retryable(httpserver: HTTPServer, make: Any) -> None:
    def slow(request: Request) -> Response:
        time.sleep(0.3)
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/v2/equities/bars/daily").respond_with_handler(slow)
    with pytest.raises(SourceError, match="timed out") as info:
        make(timeout_s=0.05, max_retries=1).fetch(TOYOTA, JAN4, "D1")
    assert info.value.retryable
    assert_no_secret(info.value)


def test_malformed_json_is_not_retryable(httpserver: HTTPServer, make: Any) -> None:
    httpserver.expect_request("/v2/equities/bars/daily").respond_with_data(
        '{"data": [{"Date": "2024-01-04", ', content_type="application/json"
    )
    with pytest.raises(SourceError, match=r"malformed JSON from /v2/equities/bars/daily") as info:
        make().fetch(TOYOTA, JAN4, "D1")
    assert not info.value.retryable


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"info": []}, "'data'"),
        ([{"Date": "2024-01-04"}], "JSON list"),
        ({"data": [{"Date": "2024-01-04", "C": 1.0}]}, "'Code'"),
        ({"data": [{"Code": "72030", "Date": "04/01/2024", "C": 1.0}]}, "'Date'"),
        ({"data": [{"Code": "72030", "Date": "2024-01-04", "Close_": 1.0}]}, "'C'"),
    ],
)
def test_malformed_pages_name_the_field(
    httpserver: HTTPServer, make: Any, payload: Any, field: str
) -> None:
    httpserver.expect_request("/v2/equities/bars/daily").respond_with_json(payload)
    with pytest.raises(SourceError, match=field) as info:
        make().fetch(TOYOTA, JAN4, "D1")
    assert not info.value.retryable


def test_wrong_value_types_become_nan_rows(
    httpserver: HTTPServer, make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    row = {"Date": "2024-01-04", "Code": "72030", "O": "abc", "H": True, "L": [], "C": "2600.5"}
    httpserver.expect_request("/v2/equities/bars/daily").respond_with_json({"data": [row]})

    bars = make().fetch(TOYOTA, JAN4, "D1")

    assert len(bars) == 1
    assert np.isnan(bars.loc[0, ["open", "high", "low", "volume"]].to_numpy(float)).all()
    assert bars.loc[0, "close"] == 2600.5 and bars.loc[0, "adj_factor"] == 1.0
    assert "non-numeric 'O'" in caplog.text and "without AdjFactor" in caplog.text


def test_v2_401_is_credentials_rejected(httpserver: HTTPServer, make: Any) -> None:
    httpserver.expect_request("/v2/equities/bars/daily").respond_with_json(
        {"message": "Invalid API key"}, status=401
    )
    with pytest.raises(SourceError, match="credentials rejected") as info:
        make().fetch(TOYOTA, JAN4, "D1")
    assert not info.value.retryable and len(httpserver.log) == 1


# --- secrets ------------------------------------------------------------------------------------


def echo(status: int) -> Callable[[Request], Response]:
    """A vendor that repeats every credential it was sent back in its error message."""

    def handler(request: Request) -> Response:
        echoed = " ".join(
            [request.query_string.decode(), request.get_data(as_text=True), str(request.headers)]
        )
        return Response(
            json.dumps({"message": f"rejected: {echoed}"}),
            status=status,
            content_type="application/json",
        )

    return handler


@pytest.mark.parametrize(
    "scenario",
    [
        "v2_401_echo",
        "v2_500_repeated",
        "v2_malformed_echo",
        "v1_auth_user_echo",
        "v1_refresh_rejected",
        "v1_data_401_echo",
    ],
)
def test_no_error_message_or_log_contains_a_secret(
    httpserver: HTTPServer, make: Any, scenario: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="resources.sources")
    creds = JQuantsCredentials(api_key=API_KEY)
    if scenario == "v2_401_echo":
        httpserver.expect_request("/v2/equities/bars/daily").respond_with_handler(echo(401))
    elif scenario == "v2_500_repeated":
        httpserver.expect_request("/v2/equities/bars/daily").respond_with_handler(echo(500))
    elif scenario == "v2_malformed_echo":
        httpserver.expect_request("/v2/equities/bars/daily").respond_with_data(
            f"<html>bad gateway for key {API_KEY}", content_type="application/json"
        )
    elif scenario == "v1_auth_user_echo":
        creds = v1_credentials()
        httpserver.expect_request("/v1/token/auth_user").respond_with_handler(echo(400))
    elif scenario == "v1_refresh_rejected":
        creds = JQuantsCredentials(refresh_token=REFRESH)
        httpserver.expect_request("/v1/token/auth_refresh").respond_with_handler(echo(400))
    else:
        creds = v1_credentials()
        expect_auth_user(httpserver)
        expect_auth_refresh(httpserver, ID1)
        httpserver.expect_ordered_request("/v1/prices/daily_quotes").respond_with_handler(echo(401))
        expect_auth_refresh(httpserver, ID2)
        httpserver.expect_ordered_request("/v1/prices/daily_quotes").respond_with_handler(echo(401))
    source = make(creds)

    with pytest.raises(SourceError) as info:
        source.fetch(TOYOTA, JAN4, "D1")

    assert_no_secret(info.value)
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("resources."))
    for secret in SECRETS:
        assert secret not in ours  # (the test server's own access log is not ours)
        assert secret not in repr(source) and secret not in repr(creds)
    if scenario != "v2_500_repeated" and scenario != "v2_malformed_echo":
        assert "credentials rejected" in str(info.value)


# --- construction -------------------------------------------------------------------------------


def test_credentials_from_env_and_version_choice() -> None:
    env = {"JQUANTS_MAIL_ADDRESS": MAIL, "JQUANTS_PASSWORD": PASSWORD, "JQUANTS_API_KEY": " "}
    creds = JQuantsCredentials.from_env(env)
    assert creds.api_version == "v1" and creds.api_key is None
    assert JQuantsCredentials.from_env({"JQUANTS_API_KEY": API_KEY}).api_version == "v2"
    assert PASSWORD not in repr(creds) and "password=***" in repr(creds)
    with pytest.raises(ValueError, match="API key"):
        JQuantsCredentials.from_env({"JQUANTS_MAIL_ADDRESS": MAIL})


def test_base_url_version_suffix_is_ignored() -> None:
    source = JQuantsSource(
        JQuantsCredentials(api_key=API_KEY), base_url="https://api.jquants.com/v2/"
    )
    assert source.base_url == "https://api.jquants.com" and source.api_version == "v2"


def test_instruments_outside_tokyo_are_refused(make: Any) -> None:
    fx: Instrument = UNIVERSE.get("USDJPY")
    with pytest.raises(SourceError, match="XTKS"):
        make().fetch(fx, JAN4, "D1")
    with pytest.raises(SourceError, match="D1 and M1 only"):
        make().fetch(TOYOTA, JAN4, "H1")


def test_retry_after_accepts_http_dates() -> None:
    now = dt.datetime(2024, 1, 4, 0, 0, tzinfo=dt.UTC)
    assert parse_retry_after("Thu, 04 Jan 2024 00:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
