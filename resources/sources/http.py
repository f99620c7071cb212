"""What the HTTP vendor sources share: one bounded retry loop, safe errors, bar-frame building.

Why a hand-written loop instead of urllib3's `Retry`: the sources must (a) honour `Retry-After`
but never sleep past a total time budget (a Dagster step that sleeps for ten minutes on one
partition is worse than failing it as retryable and letting the RetryPolicy come back later),
(b) work the same over `requests` and `curl_cffi` sessions (yfinance's transport; urllib3
retries do not exist there), and (c) map every failure to `SourceError` with `retryable` set,
with messages that never carry a credential.

Secrets. Error messages name the URL *path* only (J-Quants' token refresh puts the refresh
token in the query string), and any vendor text quoted in a message goes through `redact`.
SourceErrors for transport and JSON failures are raised after the `except` block, so they
carry no `__context__`: a requests exception's text holds the full URL, a JSONDecodeError the
whole body, and Dagster prints chained exceptions in run logs.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import requests

from market_assets.core.bars import STRING_DTYPE, concat_bars, empty_bars, session_date_column
from market_assets.core.calendars import calendar_timezone, session_dates_of
from resources.sources.base import SourceError, sort_bars

try:  # yfinance's transport; optional for the J-Quants source
    from curl_cffi.requests import exceptions as _curl_exceptions
except ImportError:  # pragma: no cover - curl_cffi ships with yfinance
    _curl_exceptions = None

log = logging.getLogger(__name__)

RETRY_STATUSES: frozenset[int] = frozenset({429, 500, 502, 503, 504})
BROWSER_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
_MIN_SECRET_LEN = 4  # shorter strings would redact ordinary words


@dataclass(frozen=True)
class RetryPolicy:
    """How long one request may keep trying before it becomes a retryable SourceError.

    `max_retries` extra attempts after the first; waits grow `backoff_s * 2**n` up to
    `max_backoff_s`, or follow the server's Retry-After; `max_total_s` bounds the time spent
    (waits plus attempts) so a step never hangs on a rate limit. `jitter` spreads concurrent
    clients (fraction of each wait, 0 in tests for determinism).
    """

    max_retries: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    max_total_s: float = 120.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if min(self.backoff_s, self.max_backoff_s, self.max_total_s, self.jitter) < 0:
            raise ValueError("back-off times and jitter must be >= 0")

    def wait(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before attempt `attempt + 1` (attempt counts from 0)."""
        if retry_after is not None:
            return retry_after  # the server knows best; the budget check caps it
        base = min(self.backoff_s * 2.0**attempt, self.max_backoff_s)
        return base * (1.0 + random.uniform(0.0, self.jitter)) if self.jitter else base


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret (api key, password, tokens) replaced by '***'."""
    for secret in sorted((s for s in secrets if s and len(s) >= _MIN_SECRET_LEN), key=len)[::-1]:
        text = text.replace(secret, "***")
    return text


def url_path(url: str) -> str:
    """The path of a URL, for messages: never the query string, which may hold a token."""
    return urlsplit(url).path or "/"


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date); None when absent or invalid."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - (now or dt.datetime.now(dt.UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


def _is_transient(exc: BaseException) -> bool:
    """Timeouts and connection failures; not invalid URLs or other programming errors."""
    transient: tuple[type[BaseException], ...] = (requests.Timeout, requests.ConnectionError)
    if _curl_exceptions is not None:
        transient += (_curl_exceptions.Timeout, _curl_exceptions.ConnectionError)
    return isinstance(exc, transient)


class Pacer(Protocol):
    """Paces a vendor's requests: `wait()` returns when the next attempt may start.

    `Throttle` paces one process; `rate_limit.RedisTokenBucket` shares one bucket between
    every process of the deployment (the vendor meters the account, not the process)."""

    @property
    def requests_per_minute(self) -> float: ...

    def wait(self) -> None: ...


class Throttle:
    """Spaces requests at least `60 / requests_per_minute` seconds apart.

    Vendors meter by the minute (J-Quants: Free 5, Light 60, ...) and answer a burst with 429;
    pacing every attempt evenly keeps a client inside the plan without spending retries, and
    any 60-second window holds at most `requests_per_minute` requests. Spacing is measured
    between the starts of requests, retries included, on the injected clock.
    """

    def __init__(
        self,
        requests_per_minute: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not requests_per_minute > 0:
            raise ValueError("requests_per_minute must be > 0")
        self.requests_per_minute = requests_per_minute
        self.interval_s = 60.0 / requests_per_minute
        self._sleep = sleep
        self._clock = clock
        self._last_at: float | None = None

    def wait(self) -> None:
        """Sleep until the next request may start, and record that it starts now."""
        now = self._clock()
        if self._last_at is not None:
            pause = self.interval_s - (now - self._last_at)
            if pause > 0:
                self._sleep(pause)
                now = self._clock()
        self._last_at = now


def default_session(*, browser: bool = False) -> Any:
    """A new HTTP session: curl_cffi impersonating Chrome when `browser` (Yahoo fingerprints
    TLS and throttles python clients), else a plain requests.Session."""
    if browser:
        try:
            from curl_cffi import requests as curl_requests

            return curl_requests.Session(impersonate="chrome")
        except ImportError:  # pragma: no cover - curl_cffi ships with yfinance
            session = requests.Session()
            session.headers["User-Agent"] = BROWSER_USER_AGENT
            return session
    return requests.Session()


class HttpClient:
    """One source's HTTP access: timeouts, bounded retries, SourceErrors without secrets.

    `session` is anything with a requests-like `request(method, url, params=, json=,
    headers=, timeout=)` (requests or curl_cffi sessions). `secrets` is called whenever a
    message is built, so tokens minted later are redacted too. `throttle` paces every attempt
    (vendors with a per-minute plan limit); `error_type` is the SourceError subclass raised,
    so a vendor client's callers can catch its own error class.
    """

    def __init__(
        self,
        *,
        source: str,
        session: Any,
        timeout_s: float,
        retry: RetryPolicy,
        secrets: Callable[[], Iterable[str | None]] = tuple,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        throttle: Pacer | None = None,
        error_type: type[SourceError] = SourceError,
    ) -> None:
        if not timeout_s > 0:
            raise ValueError("timeout_s must be > 0")
        self.source = source
        self.session = session
        self.timeout_s = timeout_s
        self.retry = retry
        self.throttle = throttle
        self.requests_made = 0  # attempts that got an answer (any status)
        self._secrets = secrets
        self._sleep = sleep
        self._clock = clock
        self._error_type = error_type

    def redact(self, text: str) -> str:
        return redact(text, self._secrets())

    def error(self, message: str, *, retryable: bool, status: int | None = None) -> SourceError:
        return self._error_type(
            self.redact(message), source=self.source, retryable=retryable, status=status
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> Any:
        """The response of the first attempt that is neither 429/5xx nor a transport error.

        Any other status (2xx, 4xx) is returned for the caller to interpret. Exhausting the
        attempts or the time budget raises SourceError(retryable=True) with the last status
        and the vendor's message.
        """
        path = url_path(url)
        started = self._clock()
        attempt = 0
        while True:
            problem: str
            detail = ""
            status: int | None = None
            retry_after: float | None = None
            failure: BaseException | None = None
            if self.throttle is not None:
                self.throttle.wait()
            try:
                response = self.session.request(
                    method,
                    url,
                    params=dict(params) if params else None,
                    headers=dict(headers) if headers else None,
                    json=json_body,
                    timeout=self.timeout_s,
                )
            except Exception as exc:  # raised below, outside this block: see module docs
                failure = exc
            if failure is not None:
                name = type(failure).__name__
                if not _is_transient(failure):
                    raise self.error(f"{method} {path} failed: {name}", retryable=False)
                kind = "timed out" if "timeout" in name.lower() else "failed"
                problem = f"{method} {path} {kind} ({name}, {self.timeout_s:g} s)"
                del failure  # its text holds the full URL
            else:
                self.requests_made += 1
                status = int(response.status_code)
                if status not in RETRY_STATUSES:
                    return response
                problem = f"{method} {path} answered HTTP {status}"
                if status == 429:
                    problem += " (rate limited)"
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                message = self.vendor_message(response)
                detail = f": {message}" if message else ""
            wait = self.retry.wait(attempt, retry_after)
            elapsed = self._clock() - started
            if attempt >= self.retry.max_retries:
                raise self.error(
                    f"{problem} after {attempt + 1} attempts{detail}",
                    retryable=True,
                    status=status,
                )
            if elapsed + wait > self.retry.max_total_s:
                raise self.error(
                    f"{problem}; giving up after {attempt + 1} attempts: waiting {wait:.1f} s "
                    f"more would exceed the {self.retry.max_total_s:g} s budget{detail}",
                    retryable=True,
                    status=status,
                )
            log.warning("%s: %s; retrying in %.2f s", self.source, self.redact(problem), wait)
            self._sleep(wait)
            attempt += 1

    def json(self, response: Any, url: str) -> Any:
        """The parsed body; a non-retryable SourceError naming the path when it is not JSON."""
        try:
            return response.json()
        except ValueError as exc:  # json.JSONDecodeError and curl_cffi's errors
            reason = f"{type(exc).__name__} {exc}"[:120]  # exc.doc holds the whole body
        snippet = self.redact(_text(response)[:80])
        raise self.error(
            f"malformed JSON from {url_path(url)} (HTTP {response.status_code}): "
            f"{self.redact(reason)}; body starts {snippet!r}",
            retryable=False,
        )

    def vendor_message(self, response: Any) -> str:
        """The vendor's error text ('message' field or body start), redacted and short."""
        text = _text(response)
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            text = body["message"]
        return self.redact(" ".join(text.split())[:200])


def _text(response: Any) -> str:
    try:
        return str(response.text)
    except Exception:  # undecodable bodies: say nothing rather than fail the error path
        return ""


# --- helpers for turning vendor rows into bar frames -------------------------------------------


def numbers(values: Sequence[Any]) -> tuple[np.ndarray, int]:
    """JSON values to float64: numbers and numeric strings pass, null and '' become NaN
    (no trade), anything else (other strings, bools, lists, objects, inf) becomes NaN too.

    Returns the array and how many values had a wrong type, so the caller can warn; bools
    count as wrong even though Python treats them as ints.
    """
    out = np.full(len(values), np.nan)
    wrong = 0
    for i, v in enumerate(values):
        if isinstance(v, bool):
            wrong += 1
        elif isinstance(v, int | float):
            out[i] = float(v)
        elif v is None or v == "":
            continue
        elif isinstance(v, str):
            try:
                out[i] = float(v)
            except ValueError:
                wrong += 1
        else:
            wrong += 1
    out[~np.isfinite(out)] = np.nan  # inf is no price either
    return out, wrong


def assign_sessions(
    calendar: str, ts: pd.DatetimeIndex, fallback: np.ndarray | None = None
) -> np.ndarray:
    """Session date (datetime64[D]) of each intraday bar: the session whose [open, close)
    contains it (lunch breaks included). A bar outside every session gets `fallback` (the
    vendor's own date label) or else its local date in the calendar's time zone, so it still
    reaches its partition and the row rules quarantine it as `outside_partition` instead of
    it vanishing here."""
    days = session_dates_of(calendar, ts)
    missing = np.isnat(days)
    if missing.any():
        if fallback is not None:
            days[missing] = fallback[missing]
        else:
            local = ts[missing].tz_convert(calendar_timezone(calendar)).tz_localize(None)
            days[missing] = local.values.astype("datetime64[D]")
    return days


def bar_frame(
    *,
    symbol: str,
    timeframe: str,
    source: str,
    ts: pd.DatetimeIndex,
    session_days: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    adj_factor: np.ndarray,
) -> pd.DataFrame:
    """One instrument's bars with the bar schema's in-memory dtypes (market_assets.core.bars)."""
    n = len(ts)
    if n == 0:
        return empty_bars()
    return pd.DataFrame(
        {
            "symbol": pd.Series([symbol] * n, dtype=STRING_DTYPE),
            "timeframe": pd.Series([timeframe] * n, dtype=STRING_DTYPE),
            "ts": pd.Series(ts.tz_convert("UTC").as_unit("ns"), dtype="datetime64[ns, UTC]"),
            "session_date": session_date_column(session_days),
            "open": np.asarray(open_, dtype=np.float64),
            "high": np.asarray(high, dtype=np.float64),
            "low": np.asarray(low, dtype=np.float64),
            "close": np.asarray(close, dtype=np.float64),
            "volume": np.asarray(volume, dtype=np.float64),
            "adj_factor": np.asarray(adj_factor, dtype=np.float64),
            "source": pd.Series([source] * n, dtype=STRING_DTYPE),
        }
    )


def finish(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate per-instrument frames in the canonical order."""
    return sort_bars(concat_bars(frames))
