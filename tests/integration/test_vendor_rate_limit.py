"""One J-Quants allowance for every process: the shared Redis bucket, seen from the vendor.

Several worker processes (as concurrent backfill runs have) call a local server speaking
J-Quants' v2 format through the bucket in the fixture's real Valkey; the server stamps each
arrival, and no sliding window holds more than the configured rate allows. The same workers
with per-process throttles (the old behaviour) send several times the plan, which is what the
bucket exists to prevent. A 429 with Retry-After still backs off, its retry spends a slot
too, and a Redis that is down fails before anything reaches the vendor.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing as mp
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from market_assets.core.vendor_limits import vendor_limit
from resources.errors import StoreUnavailableError
from resources.masters.resource import MasterSourceResource
from resources.redis import RedisResource
from resources.sources.http import RetryPolicy, Throttle
from resources.sources.jquants_client import JQuantsClient, JQuantsCredentials
from resources.sources.rate_limit import RedisTokenBucket
from resources.sources.resource import BarSourcesResource

pytestmark = pytest.mark.timeout(120)

API_KEY = "rate-limit-test-key-7d1e"
DATA = "/v2/equities/bars/daily"
RPM = 1200  # 20 a second: a few seconds of test, far above any jitter of the loopback
WORKERS = 4
REQUESTS_EACH = 12
FAST = RetryPolicy(max_retries=3, backoff_s=0.01, max_backoff_s=0.05, max_total_s=10, jitter=0)


class FakeJQuants:
    """A threaded local server answering daily bars in J-Quants' v2 layout; stamps arrivals.

    `fail_first` requests are answered 429 with `Retry-After` (J-Quants' rate-limit answer).
    """

    def __init__(self, *, fail_first: int = 0, retry_after: str = "0.2") -> None:
        self.arrivals: list[float] = []
        self.keys: list[str | None] = []
        self.fail_first = fail_first
        self.retry_after = retry_after
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._lock:
                    server.arrivals.append(time.monotonic())
                    server.keys.append(self.headers.get("x-api-key"))
                    limited = len(server.arrivals) <= server.fail_first
                if limited:
                    body = json.dumps({"message": "Rate limit exceeded"}).encode()
                    self.send_response(429)
                    self.send_header("Retry-After", server.retry_after)
                else:
                    row = {"Date": "2024-01-04", "Code": "72030", "O": 1, "H": 2, "L": 1, "C": 2}
                    body = json.dumps({"data": [row]}).encode()
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeJQuants:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def max_in_window(self, seconds: float) -> int:
        """The most arrivals any half-open window of `seconds` holds."""
        times = sorted(self.arrivals)
        best, lo = 0, 0
        for hi, t in enumerate(times):
            while times[lo] <= t - seconds:
                lo += 1
            best = max(best, hi - lo + 1)
        return best


@pytest.fixture
def fake() -> Iterator[FakeJQuants]:
    with FakeJQuants() as server:
        yield server


class RecordingBucket(RedisTokenBucket):
    """The shared bucket, remembering the slot (on Redis' clock) of every reservation."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slots: list[int] = []

    def wait(self) -> None:
        super().wait()
        assert self.last_slot_us is not None
        self.slots.append(self.last_slot_us)


def _worker(url: str, redis_url: str, prefix: str, shared: bool, start: Any, results: Any) -> None:
    """One run worker: a J-Quants client paced by the shared bucket (or its own throttle)."""
    limit = vendor_limit("jquants", RPM)
    pacer: Any = (
        RecordingBucket(RedisResource(url=redis_url, key_prefix=prefix), limit)
        if shared
        else Throttle(RPM)
    )
    client = JQuantsClient(
        JQuantsCredentials(api_key=API_KEY), base_url=url, pacer=pacer, retry=FAST
    )
    start.wait()
    for _ in range(REQUESTS_EACH):
        client.get(DATA, {"date": "20240104"})
    results.put((client.requests_made, getattr(pacer, "slots", [])))


def _run_workers(
    fake: FakeJQuants, redis_url: str, prefix: str, *, shared: bool
) -> tuple[int, list[int]]:
    ctx = mp.get_context("spawn")
    start = ctx.Barrier(WORKERS)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(fake.url, redis_url, prefix, shared, start, results))
        for _ in range(WORKERS)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(90)
        assert p.exitcode == 0, f"worker exited with {p.exitcode}"
    answers = [results.get(timeout=5) for _ in procs]
    return sum(made for made, _ in answers), sorted(s for _, slots in answers for s in slots)


def test_concurrent_processes_share_one_rate_limit(fake: FakeJQuants, redis_url: str) -> None:
    """4 processes x 12 requests at 1,200/min in all. The slots Redis handed out are one
    interval (50 ms) apart or more, whatever the machine's load; at the server, no second
    holds more than 20 arrivals plus a little network/scheduling jitter, and the batch takes
    as long as one client would."""
    prefix = f"t-{time.time_ns()}:"
    made, slots = _run_workers(fake, redis_url, prefix, shared=True)

    total = WORKERS * REQUESTS_EACH
    assert made == total == len(fake.arrivals)
    assert set(fake.keys) == {API_KEY}
    assert len(slots) == total
    assert min(b - a for a, b in itertools.pairwise(slots)) >= 60_000_000 // RPM
    per_second = RPM / 60
    observed = fake.max_in_window(1.0)
    span = max(fake.arrivals) - min(fake.arrivals)
    print(
        json.dumps(
            {
                "configured_per_min": RPM,
                "observed_max_per_1s_window": observed,
                "observed_avg_per_min": round((total - 1) / span * 60, 1),
                "requests": total,
                "span_s": round(span, 3),
            }
        )
    )
    assert observed <= per_second + 3  # a worker descheduled ~0.1 s can bunch a few
    assert span >= (total - 1) / per_second * 0.9  # paced as one client, not four


def test_per_process_throttles_would_exceed_the_plan(fake: FakeJQuants, redis_url: str) -> None:
    """The control: the same workers pacing themselves send about four times the plan, so the
    window count above does measure the sharing."""
    _run_workers(fake, redis_url, "unused:", shared=False)
    observed = fake.max_in_window(1.0)
    print(json.dumps({"configured_per_min": RPM, "unshared_max_per_1s_window": observed}))
    assert observed > RPM / 60 + 1


def test_a_429_still_backs_off_and_its_retry_spends_a_slot(redis_url: str) -> None:
    with FakeJQuants(fail_first=1, retry_after="0.3") as server:
        bucket = RedisTokenBucket(
            RedisResource(url=redis_url, key_prefix=f"t-{time.time_ns()}:"),
            vendor_limit("jquants", 600),
        )
        client = JQuantsClient(
            JQuantsCredentials(api_key=API_KEY), base_url=server.url, pacer=bucket, retry=FAST
        )
        body = client.get(DATA, {"date": "20240104"})
    assert body["data"][0]["Code"] == "72030"
    assert len(server.arrivals) == 2 and bucket.reservations == 2
    assert server.arrivals[1] - server.arrivals[0] >= 0.25  # Retry-After 0.3 s, less jitter


def test_redis_down_fails_before_the_vendor_is_called(fake: FakeJQuants) -> None:
    down = RedisResource(url="redis://127.0.0.1:9/0", socket_timeout_s=1)
    client = JQuantsClient(
        JQuantsCredentials(api_key=API_KEY),
        base_url=fake.url,
        pacer=RedisTokenBucket(down, vendor_limit("jquants", "light")),
        retry=FAST,
    )
    with pytest.raises(StoreUnavailableError, match=r"Redis at 127\.0\.0\.1:9"):
        client.get(DATA)
    assert fake.arrivals == []


def test_bar_source_and_master_sync_spend_the_same_bucket(redis_url: str) -> None:
    redis = RedisResource(url=redis_url, key_prefix="p:")
    sources = BarSourcesResource(
        jquants_api_key=API_KEY,
        vendor_rate_limits="jquants=light, yfinance=120",
        rate_limit_redis=redis,
    )
    bars = sources.source("jquants")
    master = MasterSourceResource(
        kind="jquants", api_key=API_KEY, rate_limit_plan="light", rate_limit_redis=redis
    ).client()
    bar_pacer = bars._client._http.throttle  # type: ignore[attr-defined]
    master_pacer = master._client._http.throttle  # type: ignore[union-attr]
    assert isinstance(bar_pacer, RedisTokenBucket) and isinstance(master_pacer, RedisTokenBucket)
    assert bar_pacer.key == master_pacer.key == "p:ratelimit:jquants:light"
    assert bar_pacer.requests_per_minute == 60
    yf = sources.source("yfinance")._http.throttle  # type: ignore[attr-defined]
    assert isinstance(yf, RedisTokenBucket) and yf.key == "p:ratelimit:yfinance:120rpm"


def test_without_redis_the_clients_pace_per_process_and_warn(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sources = BarSourcesResource(jquants_api_key=API_KEY, jquants_requests_per_minute=60)
    with caplog.at_level("WARNING"):
        pacer = sources.source("jquants")._client._http.throttle  # type: ignore[attr-defined]
    assert isinstance(pacer, Throttle) and pacer.requests_per_minute == 60
    assert "not shared" in caplog.text


def test_a_bad_rate_limit_setting_names_the_entry() -> None:
    with pytest.raises(ValueError, match="jquants=gold"):
        BarSourcesResource(vendor_rate_limits="jquants=gold")


def test_a_bad_master_plan_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown jquants plan"):
        MasterSourceResource(kind="jquants", rate_limit_plan="platinum")
