"""The shared J-Quants HTTP client against a local server speaking J-Quants' formats.

What both users (bar source, company master) rely on, observed at the HTTP layer: the v2
api-key header, the v1 token flow and its renewal after a 401, pacing to the plan's rate
limit (measured by the server's arrival times), back-off on 429/5xx honouring Retry-After,
giving up after the retry budget, and pagination. Back-off waits go through a recording
`sleep` (or tiny real delays), so nothing here waits long.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from resources.sources.base import SourceError
from resources.sources.http import RetryPolicy
from resources.sources.jquants_client import (
    JQuantsAuthError,
    JQuantsClient,
    JQuantsCredentials,
    JQuantsError,
)

pytestmark = pytest.mark.timeout(60)

API_KEY = "client-test-api-key-4c2b"
REFRESH = "client-test-refresh-91ff"
MAIL = "client@example.org"
PASSWORD = "client-pw-Secret-77"
ID1 = "client-id-token-one-a1"
ID2 = "client-id-token-two-b2"
SECRETS = (API_KEY, REFRESH, MAIL, PASSWORD, ID1, ID2)
DATA = "/v2/equities/bars/daily"
FAST = RetryPolicy(max_retries=3, backoff_s=0.001, max_backoff_s=0.01, max_total_s=5, jitter=0)


class Sleeps(list[float]):
    """An injected `sleep` that records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class Arrivals:
    """A handler that answers page after page and stamps when each request arrived."""

    def __init__(self, answers: list[tuple[int, Any, dict[str, str]]]) -> None:
        self.answers = list(answers)
        self.times: list[float] = []
        self.queries: list[dict[str, str]] = []

    def __call__(self, request: Request) -> Response:
        self.times.append(time.monotonic())
        self.queries.append(dict(request.args))
        status, body, headers = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return Response(
            json.dumps(body), status=status, headers=headers, content_type="application/json"
        )

    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.times, self.times[1:], strict=False)]


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make(httpserver: HTTPServer, sleeps: Sleeps) -> Iterator[Callable[..., JQuantsClient]]:
    def build(credentials: JQuantsCredentials | None = None, **kwargs: Any) -> JQuantsClient:
        kwargs.setdefault("retry", FAST)
        kwargs.setdefault("timeout_s", 5.0)
        kwargs.setdefault("sleep", sleeps)
        return JQuantsClient(
            credentials or JQuantsCredentials(api_key=API_KEY),
            base_url=httpserver.url_for("/"),
            **kwargs,
        )

    yield build
    httpserver.check_assertions()


def page(rows: list[int], key: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"data": [{"n": n} for n in rows]}
    if key:
        body["pagination_key"] = key
    return body


def assert_no_secret(exc: BaseException) -> None:
    seen: BaseException | None = exc
    while seen is not None:
        for secret in SECRETS:
            assert secret not in str(seen), f"{secret!r} leaked"
        seen = seen.__cause__ or seen.__context__


# --- auth -------------------------------------------------------------------------------------


def test_v2_sends_the_api_key_header_and_never_a_token(httpserver: HTTPServer, make: Any) -> None:
    httpserver.expect_request(
        DATA, method="GET", query_string={"date": "20240104"}, headers={"x-api-key": API_KEY}
    ).respond_with_json(page([1, 2]))

    client = make()
    assert client.get(DATA, {"date": "20240104"}) == page([1, 2])

    assert client.api_version == "v2" and len(httpserver.log) == 1
    request = httpserver.log[0][0]
    assert "Authorization" not in request.headers  # no v1 token calls either
    assert API_KEY not in repr(client)


def test_v2_401_is_an_auth_error_without_a_retry(httpserver: HTTPServer, make: Any) -> None:
    httpserver.expect_request(DATA).respond_with_json(
        {"message": f"Invalid API key {API_KEY}"}, status=401
    )
    with pytest.raises(JQuantsAuthError, match="JQUANTS_API_KEY") as info:
        make().get(DATA)
    assert info.value.status == 401 and not info.value.retryable
    assert isinstance(info.value, SourceError) and len(httpserver.log) == 1
    assert_no_secret(info.value)


def test_v1_logs_in_then_refreshes_the_id_token_once_after_a_401(
    httpserver: HTTPServer, make: Any
) -> None:
    """mail + password -> refresh token -> ID token; a 401 on data buys a new ID token with the
    same refresh token (no second login) and the request is repeated with it."""
    httpserver.expect_ordered_request(
        "/v1/token/auth_user", method="POST", json={"mailaddress": MAIL, "password": PASSWORD}
    ).respond_with_json({"refreshToken": REFRESH})
    httpserver.expect_ordered_request(
        "/v1/token/auth_refresh", method="POST", query_string={"refreshtoken": REFRESH}
    ).respond_with_json({"idToken": ID1})
    httpserver.expect_ordered_request(
        "/v1/listed/info", headers={"Authorization": f"Bearer {ID1}"}
    ).respond_with_json({"message": "The incoming token is invalid or expired."}, status=401)
    httpserver.expect_ordered_request(
        "/v1/token/auth_refresh", method="POST", query_string={"refreshtoken": REFRESH}
    ).respond_with_json({"idToken": ID2})
    httpserver.expect_ordered_request(
        "/v1/listed/info", headers={"Authorization": f"Bearer {ID2}"}
    ).respond_with_json({"info": [{"Code": "72030"}]})

    client = make(JQuantsCredentials(mail_address=MAIL, password=PASSWORD))
    assert client.get("/v1/listed/info") == {"info": [{"Code": "72030"}]}
    assert client.api_version == "v1" and client.requests_made == 5

    # The renewed token is kept: the next request needs no token call.
    httpserver.expect_ordered_request(
        "/v1/listed/info", headers={"Authorization": f"Bearer {ID2}"}
    ).respond_with_json({"info": []})
    assert client.get("/v1/listed/info") == {"info": []}
    assert len(httpserver.log) == 6


def test_v1_400_that_is_not_about_the_token_is_not_a_refresh(
    httpserver: HTTPServer, make: Any
) -> None:
    httpserver.expect_ordered_request("/v1/token/auth_refresh").respond_with_json({"idToken": ID1})
    httpserver.expect_ordered_request("/v1/listed/info").respond_with_json(
        {"message": "date must be YYYY-MM-DD"}, status=400
    )
    with pytest.raises(JQuantsError, match="HTTP 400: date must be") as info:
        make(JQuantsCredentials(refresh_token=REFRESH)).get("/v1/listed/info", {"date": "x"})
    assert not isinstance(info.value, JQuantsAuthError)
    assert info.value.status == 400 and not info.value.retryable and len(httpserver.log) == 2


# --- throttle -----------------------------------------------------------------------------------


def test_requests_are_paced_to_the_requests_per_minute(httpserver: HTTPServer, make: Any) -> None:
    """600 a minute = one per 0.1 s: the server sees five pages in order, none closer together
    than the interval (retries count too), so no minute could hold more than the plan allows."""
    arrivals = Arrivals(
        [
            (200, page([1], "k2"), {}),
            (429, {"message": "Rate limit exceeded"}, {}),  # the retry is paced as well
            (200, page([2], "k3"), {}),
            (200, page([3], "k4"), {}),
            (200, page([4]), {}),
        ]
    )
    httpserver.expect_request(DATA).respond_with_handler(arrivals)
    client = make(requests_per_minute=600, sleep=time.sleep)
    assert client.requests_per_minute == 600

    rows = client.pages(DATA, "data", {"date": "20240104"})

    assert [r["n"] for r in rows] == [1, 2, 3, 4]
    assert [q.get("pagination_key") for q in arrivals.queries] == [None, "k2", "k2", "k3", "k4"]
    assert len(arrivals.times) == 5
    assert min(arrivals.gaps()) >= 0.08  # 0.1 s less a generous margin for clock jitter
    assert arrivals.times[-1] - arrivals.times[0] >= 0.35


def test_without_a_limit_requests_are_not_paced(httpserver: HTTPServer, make: Any) -> None:
    arrivals = Arrivals([(200, page([1], "k2"), {}), (200, page([2]), {})])
    httpserver.expect_request(DATA).respond_with_handler(arrivals)
    sleeps = Sleeps()

    assert len(make(sleep=sleeps).pages(DATA, "data")) == 2
    assert sleeps == [] and len(arrivals.times) == 2


# --- retries ------------------------------------------------------------------------------------


def test_429_waits_for_retry_after_then_retries(
    httpserver: HTTPServer, make: Any, sleeps: Sleeps
) -> None:
    httpserver.expect_ordered_request(DATA).respond_with_json(
        {"message": "Rate limit exceeded"}, status=429, headers={"Retry-After": "7"}
    )
    httpserver.expect_ordered_request(DATA).respond_with_json(page([1]))

    assert make(retry=RetryPolicy(max_total_s=30, jitter=0)).get(DATA) == page([1])
    assert sleeps == [7.0]  # the server's wait, not our back-off
    assert len(httpserver.log) == 2


def test_429_without_retry_after_backs_off_exponentially(
    httpserver: HTTPServer, make: Any, sleeps: Sleeps
) -> None:
    for _ in range(3):
        httpserver.expect_ordered_request(DATA).respond_with_json({}, status=429)
    httpserver.expect_ordered_request(DATA).respond_with_json(page([1]))

    assert make().get(DATA) == page([1])
    assert sleeps == [0.001, 0.002, 0.004]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried_with_back_off(
    httpserver: HTTPServer, make: Any, sleeps: Sleeps, status: int
) -> None:
    failing = (status, {"message": "Unexpected error"}, {})
    arrivals = Arrivals([failing, failing, (200, page([1]), {})])
    httpserver.expect_request(DATA).respond_with_handler(arrivals)

    assert make().pages(DATA, "data") == [{"n": 1}]
    assert len(arrivals.times) == 3 and sleeps == [0.001, 0.002]


def test_gives_up_after_the_retry_budget_with_a_clear_retryable_error(
    httpserver: HTTPServer, make: Any, sleeps: Sleeps
) -> None:
    httpserver.expect_request(DATA).respond_with_json(
        {"message": f"Service unavailable for {API_KEY}"}, status=503
    )
    with pytest.raises(JQuantsError) as info:
        make().get(DATA)
    error = info.value
    assert str(error).startswith("jquants: GET /v2/equities/bars/daily answered HTTP 503")
    assert "after 4 attempts: Service unavailable for ***" in str(error)
    assert error.retryable and error.status == 503
    assert len(httpserver.log) == 4 and len(sleeps) == 3  # FAST: three retries
    assert_no_secret(error)


def test_a_retry_after_beyond_the_time_budget_fails_at_once(
    httpserver: HTTPServer, make: Any, sleeps: Sleeps
) -> None:
    httpserver.expect_request(DATA).respond_with_json(
        {"message": "Rate limit exceeded"}, status=429, headers={"Retry-After": "3600"}
    )
    with pytest.raises(JQuantsError, match="budget") as info:
        make().get(DATA)
    assert info.value.retryable and info.value.status == 429
    assert sleeps == [] and len(httpserver.log) == 1


def test_retries_with_real_tiny_back_off_are_spaced_on_the_server(
    httpserver: HTTPServer, make: Any
) -> None:
    """The back-off is really waited: arrivals are at least the (doubling) waits apart."""
    arrivals = Arrivals([(503, {}, {})] * 2 + [(200, page([1]), {})])
    httpserver.expect_request(DATA).respond_with_handler(arrivals)
    policy = RetryPolicy(max_retries=2, backoff_s=0.05, max_backoff_s=1, max_total_s=5, jitter=0)

    assert make(retry=policy, sleep=time.sleep).get(DATA) == page([1])
    gaps = arrivals.gaps()
    assert len(gaps) == 2 and gaps[0] >= 0.04 and gaps[1] >= 0.08


# --- pagination ---------------------------------------------------------------------------------


def test_pages_follow_pagination_key_and_keep_the_query(httpserver: HTTPServer, make: Any) -> None:
    for query, body in (
        ({"code": "72030"}, page([1, 2], "p2")),
        ({"code": "72030", "pagination_key": "p2"}, page([3], "p3")),
        ({"code": "72030", "pagination_key": "p3"}, page([4])),
    ):
        httpserver.expect_ordered_request(DATA, query_string=query).respond_with_json(body)

    rows = make().pages(DATA, "data", {"code": "72030"})

    assert [r["n"] for r in rows] == [1, 2, 3, 4] and len(httpserver.log) == 3


@pytest.mark.parametrize(
    ("second", "message"),
    [
        (page([2], "p2"), "pagination_key is invalid or repeats"),
        ({"rows": []}, "page 2: the response has no 'data' list"),
        ([1, 2], "page 2: the response is a JSON list"),
    ],
)
def test_a_bad_page_fails_the_whole_query(
    httpserver: HTTPServer, make: Any, second: Any, message: str
) -> None:
    httpserver.expect_ordered_request(DATA, query_string="").respond_with_json(page([1], "p2"))
    httpserver.expect_ordered_request(DATA, query_string="pagination_key=p2").respond_with_json(
        second
    )
    with pytest.raises(JQuantsError, match=message) as info:
        make().pages(DATA, "data")
    assert not info.value.retryable


def test_max_pages_stops_a_runaway_pagination(httpserver: HTTPServer, make: Any) -> None:
    arrivals = Arrivals([(200, page([1], "a"), {}), (200, page([2], "b"), {})])
    httpserver.expect_request(DATA).respond_with_handler(arrivals)
    with pytest.raises(JQuantsError, match="did not finish within 2 pages"):
        make(max_pages=2).pages(DATA, "data")
    assert len(arrivals.times) == 2


# --- construction -------------------------------------------------------------------------------


def test_base_url_version_suffix_and_credentials() -> None:
    client = JQuantsClient(JQuantsCredentials(api_key=API_KEY), base_url="http://h:1/v1/")
    assert client.base_url == "http://h:1" and client.requests_per_minute is None
    with pytest.raises(ValueError, match="JQUANTS_API_KEY"):
        JQuantsCredentials(mail_address=MAIL)
    with pytest.raises(TypeError):
        JQuantsClient({"api_key": API_KEY})  # type: ignore[arg-type]
