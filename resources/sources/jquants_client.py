"""The one J-Quants HTTP client: auth, token refresh, rate-limit pacing, retries, pagination.

The bar source (`resources.sources.jquants`) and the company master
(`resources.masters.jquants_master`) call different endpoints of the same API with the same
account, so they share this client instead of each keeping its own login, throttle and
back-off (which had drifted apart: one retried 5xx, the other did not; one paced requests,
the other did not). The endpoint modules keep only what is theirs: paths, row layouts and
field names.

API versions. An API key selects v2: every request carries an `x-api-key` header. Without a
key, v1: `POST /v1/token/auth_user` (mail + password) gives a refresh token, valid a week;
`POST /v1/token/auth_refresh?refreshtoken=` gives an ID token, valid 24 h, sent as
`Authorization: Bearer`. The ID token is renewed an hour before it expires, and once more when
a data request answers 401 (or 400 about the token), because J-Quants can revoke tokens early;
a refresh token we minted is renewed a day before its week ends, and a configured one that
J-Quants refuses is replaced by logging in again when mail + password are known.

Transport (`resources.sources.http.HttpClient`). Requests are paced to the plan's
`requests_per_minute` (Free 5, Light 60, ...) so a long backfill does not live on 429s, by
the Redis bucket every process shares when one is given (`pacer`, see
resources/sources/rate_limit.py), else per client; a 429
or 500/502/503/504 and network errors are retried with exponential back-off, honouring
`Retry-After`, within the RetryPolicy's attempt and time budget; running out of either raises
a retryable JQuantsError carrying the last status.

Pagination. Responses carry `pagination_key` until the last page; every page must arrive or
the whole query fails (a master sync must never see half a master, a bar batch never half a
day), and a repeated key fails instead of looping.

Secrets. Credentials live in private attributes and in `JQuantsCredentials`, whose repr
masks them; every message goes through `redact` (vendors echo what they were sent), errors
are raised outside `except` blocks so no chained requests exception (whose text has the full
URL, the refresh token on auth_refresh) reaches a traceback, and urllib3's debug log, which
prints the `auth_refresh` query string, has the refresh token masked.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from market_assets.core import settings as s
from resources.sources.base import SourceError
from resources.sources.http import HttpClient, Pacer, RetryPolicy, Throttle, default_session

log = logging.getLogger(__name__)

SOURCE = "jquants"
DEFAULT_BASE_URL = "https://api.jquants.com"
V1_AUTH_USER_PATH = "/v1/token/auth_user"
V1_AUTH_REFRESH_PATH = "/v1/token/auth_refresh"

ID_TOKEN_RENEW_AFTER_S = 23 * 3600.0  # valid 24 h: renew an hour early
REFRESH_TOKEN_RENEW_AFTER_S = 6 * 24 * 3600.0  # valid 7 days: log in again a day early
MAX_PAGES = 10_000  # a runaway pagination loop fails instead of running forever

ApiVersion = Literal["v1", "v2"]


class JQuantsError(SourceError):
    """J-Quants did not deliver; the message never contains a secret.

    A SourceError, so the bar assets' retry handling applies unchanged; `retryable` marks
    transient failures (429/5xx after the retry budget, network errors), `status` the HTTP
    status when an answer caused it.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        source: str = SOURCE,
    ) -> None:
        super().__init__(message, source=source, retryable=retryable, status=status)


class JQuantsAuthError(JQuantsError):
    """Credentials are missing, expired or rejected: retrying will not help."""


@dataclass(frozen=True, repr=False)
class JQuantsCredentials:
    """Either a v2 API key, or v1 credentials (a refresh token and/or mail + password).

    Blank values count as unset (an empty variable in a .env file). The repr shows which are
    set, never their values.
    """

    api_key: str | None = None
    refresh_token: str | None = None
    mail_address: str | None = None
    password: str | None = None

    def __post_init__(self) -> None:
        for name in ("api_key", "refresh_token", "mail_address", "password"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"J-Quants {name} must be a string")
            object.__setattr__(self, name, (value or "").strip() or None)
        if self.api_version is None:
            raise ValueError(
                f"J-Quants credentials need an API key (v2, {s.JQUANTS_API_KEY}), or a refresh "
                f"token ({s.JQUANTS_REFRESH_TOKEN}) or a mail address and password "
                f"({s.JQUANTS_MAIL_ADDRESS}, {s.JQUANTS_PASSWORD}) for v1"
            )

    @property
    def api_version(self) -> ApiVersion | None:
        if self.api_key:
            return "v2"
        if self.refresh_token or (self.mail_address and self.password):
            return "v1"
        return None

    def secrets(self) -> tuple[str | None, ...]:
        return (self.api_key, self.refresh_token, self.mail_address, self.password)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{n}={'***' if getattr(self, n) else None}"
            for n in ("api_key", "refresh_token", "mail_address", "password")
        )
        return f"JQuantsCredentials({shown})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> JQuantsCredentials:
        """JQUANTS_API_KEY, or JQUANTS_REFRESH_TOKEN / JQUANTS_MAIL_ADDRESS + JQUANTS_PASSWORD."""
        env = os.environ if environ is None else environ
        return cls(
            api_key=env.get(s.JQUANTS_API_KEY),
            refresh_token=env.get(s.JQUANTS_REFRESH_TOKEN),
            mail_address=env.get(s.JQUANTS_MAIL_ADDRESS),
            password=env.get(s.JQUANTS_PASSWORD),
        )


class _MaskRefreshToken(logging.Filter):
    """urllib3 logs request lines at DEBUG, query string included; mask the refresh token."""

    _pattern = re.compile(r"(refreshtoken=)[^&\s\"']+", re.IGNORECASE)

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self._pattern.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = self._pattern.sub(r"\1***", record.msg)
        return True


_URLLIB3_LOG = logging.getLogger("urllib3.connectionpool")
if not any(isinstance(f, _MaskRefreshToken) for f in _URLLIB3_LOG.filters):
    _URLLIB3_LOG.addFilter(_MaskRefreshToken())


def root_url(base_url: str | None) -> str:
    """The host root: a trailing slash or /v1, /v2 is dropped (the credentials pick the
    version, so a base URL copied from the docs with a version in it still works)."""
    root = (base_url or DEFAULT_BASE_URL).rstrip("/")
    for suffix in ("/v1", "/v2"):
        root = root.removesuffix(suffix)
    return root


def _about_the_token(message: str) -> bool:
    """A 400 that is J-Quants' way of saying the ID token is invalid or expired."""
    text = message.lower()
    return "token" in text or "expired" in text


class JQuantsClient:
    """Authenticated, paced, retried JSON GETs against the J-Quants API (v2 or v1).

    `requests_per_minute` paces every request, token calls and retries included (None: no
    pacing), in this process; `pacer` replaces that with a given one, normally the Redis
    bucket every process of the deployment shares (resources.sources.rate_limit). `retry`
    bounds the retries of 429/5xx and network errors (RetryPolicy defaults when None).
    `session` is any requests-like session; `sleep` and `clock` are injectable so tests
    neither wait nor depend on the wall clock.
    """

    def __init__(
        self,
        credentials: JQuantsCredentials,
        *,
        base_url: str | None = None,
        requests_per_minute: float | None = None,
        pacer: Pacer | None = None,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        session: Any | None = None,
        max_pages: int = MAX_PAGES,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(credentials, JQuantsCredentials):
            raise TypeError("credentials must be JQuantsCredentials")
        if max_pages < 1:
            raise ValueError("max_pages must be at least 1")
        self.credentials = credentials
        self.base_url = root_url(base_url)
        self.max_pages = max_pages
        self._clock = clock
        self._refresh_token = credentials.refresh_token
        self._refresh_minted_at: float | None = None  # unknown age for a configured token
        self._id_token: str | None = None
        self._id_minted_at = 0.0
        throttle = pacer or (
            Throttle(requests_per_minute, sleep=sleep, clock=clock)
            if requests_per_minute is not None
            else None
        )
        self._http = HttpClient(
            source=SOURCE,
            session=session if session is not None else default_session(),
            timeout_s=timeout_s,
            retry=retry or RetryPolicy(),
            secrets=self._secrets,
            sleep=sleep,
            clock=clock,
            throttle=throttle,
            error_type=JQuantsError,
        )

    def __repr__(self) -> str:
        return f"JQuantsClient({self.base_url!r}, api={self.api_version})"

    @property
    def api_version(self) -> ApiVersion:
        return "v2" if self.credentials.api_key else "v1"

    @property
    def requests_made(self) -> int:
        """HTTP requests answered so far (token calls and retries included)."""
        return self._http.requests_made

    @property
    def requests_per_minute(self) -> float | None:
        throttle = self._http.throttle
        return throttle.requests_per_minute if throttle is not None else None

    # -- errors ------------------------------------------------------------------------------
    def redact(self, text: str) -> str:
        """`text` with every credential and token this client knows masked."""
        return self._http.redact(text)

    def error(
        self,
        message: str,
        *,
        retryable: bool = False,
        status: int | None = None,
        auth: bool = False,
    ) -> JQuantsError:
        """A JQuantsError (JQuantsAuthError when `auth`) with the secrets masked."""
        kind = JQuantsAuthError if auth else JQuantsError
        return kind(self.redact(message), status=status, retryable=retryable)

    # -- data --------------------------------------------------------------------------------
    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """The JSON body of one authenticated GET of `path` (e.g. '/v2/equities/master').

        A v1 ID token refused with 401 (or a 400 about the token) is renewed once and the
        request repeated; a refusal after that, or any 401/403 under v2, is a
        JQuantsAuthError. Other 4xx are permanent JQuantsErrors.
        """
        url = self.base_url + path
        refreshed = False
        while True:
            response = self._http.request("GET", url, params=params, headers=self._headers())
            status = int(response.status_code)
            if 200 <= status < 300:
                return self._http.json(response, url)
            message = self._http.vendor_message(response)
            expired = status == 401 or (status == 400 and _about_the_token(message))
            if expired and self.api_version == "v1" and not refreshed:
                log.info("J-Quants refused the ID token (HTTP %s); renewing it once", status)
                self._id_token = None
                refreshed = True
                continue
            if status in (401, 403) or expired:
                hint = (
                    f" (check {s.JQUANTS_API_KEY})"
                    if self.api_version == "v2"
                    else " after refreshing the ID token"
                    if refreshed
                    else ""
                )
                raise self.error(
                    f"credentials rejected: GET {path} answered HTTP {status}{hint}: {message}",
                    status=status,
                    auth=True,
                )
            raise self.error(f"GET {path} answered HTTP {status}: {message}", status=status)

    def pages(
        self,
        path: str,
        data_key: str,
        params: Mapping[str, str] | None = None,
        *,
        max_pages: int | None = None,
    ) -> list[Any]:
        """Every row under `data_key` of a paginated GET, following `pagination_key`.

        A page that is not an object or lacks the row list, and a missing, repeated or
        non-string key, fail the whole query (non-retryable): callers never get a partial set.
        """
        base = dict(params or {})
        query = dict(base)
        limit = max_pages or self.max_pages
        rows: list[Any] = []
        seen: set[str] = set()
        for page in range(1, limit + 1):
            payload = self.get(path, query)
            if not isinstance(payload, dict):
                raise self.error(
                    f"GET {path} page {page}: the response is a JSON {type(payload).__name__}, "
                    "not an object"
                )
            data = payload.get(data_key)
            if not isinstance(data, list):
                raise self.error(
                    f"GET {path} page {page}: the response has no {data_key!r} list "
                    f"(keys: {sorted(map(str, payload))[:8]})"
                )
            rows.extend(data)
            key = payload.get("pagination_key")
            if not key:
                return rows
            if not isinstance(key, str) or key in seen:
                raise self.error(f"GET {path} page {page}: pagination_key is invalid or repeats")
            seen.add(key)
            query = {**base, "pagination_key": key}
        raise self.error(f"GET {path} did not finish within {limit} pages")

    # -- auth --------------------------------------------------------------------------------
    def _secrets(self) -> tuple[str | None, ...]:
        return (*self.credentials.secrets(), self._refresh_token, self._id_token)

    def _headers(self) -> dict[str, str]:
        if self.credentials.api_key:
            return {"x-api-key": self.credentials.api_key}
        age = self._clock() - self._id_minted_at
        if self._id_token is None or age >= ID_TOKEN_RENEW_AFTER_S:
            self._id_token = self._mint_id_token()
            self._id_minted_at = self._clock()
        return {"Authorization": f"Bearer {self._id_token}"}

    def _mint_id_token(self) -> str:
        creds = self.credentials
        can_login = bool(creds.mail_address and creds.password)
        logged_in = False
        stale = self._refresh_minted_at is not None and (
            self._clock() - self._refresh_minted_at >= REFRESH_TOKEN_RENEW_AFTER_S
        )
        if (self._refresh_token is None or stale) and can_login:
            self._login()
            logged_in = True
        token, refusal = self._auth_refresh()
        if token is None and can_login and not logged_in:
            self._login()  # the configured refresh token expired (a week) or was revoked
            token, refusal = self._auth_refresh()
        if token is None:
            renew = (
                ""
                if can_login
                else f" and there is no {s.JQUANTS_MAIL_ADDRESS}/"
                f"{s.JQUANTS_PASSWORD} to obtain a new one"
            )
            raise self.error(
                f"credentials rejected: J-Quants refused the refresh token{renew} ({refusal}); "
                f"the refresh token is valid a week: set a new {s.JQUANTS_REFRESH_TOKEN}, or "
                f"{s.JQUANTS_MAIL_ADDRESS} and {s.JQUANTS_PASSWORD}",
                auth=True,
            )
        return token

    def _auth_refresh(self) -> tuple[str | None, str]:
        """A new ID token, or None and why when J-Quants refuses the refresh token."""
        if not self._refresh_token:
            return None, "no refresh token"
        url = self.base_url + V1_AUTH_REFRESH_PATH
        response = self._http.request("POST", url, params={"refreshtoken": self._refresh_token})
        status = int(response.status_code)
        message = self._http.vendor_message(response)
        if status in (400, 401, 403):
            log.warning("J-Quants refused the refresh token (HTTP %s): %s", status, message)
            return None, f"POST {V1_AUTH_REFRESH_PATH} answered HTTP {status}: {message}"
        if status != 200:
            raise self.error(
                f"POST {V1_AUTH_REFRESH_PATH} answered HTTP {status}: {message}", status=status
            )
        return self._token(self._http.json(response, url), "idToken", V1_AUTH_REFRESH_PATH), ""

    def _login(self) -> None:
        """Mail + password to a new refresh token (valid a week, so its age is tracked)."""
        url = self.base_url + V1_AUTH_USER_PATH
        body = {"mailaddress": self.credentials.mail_address, "password": self.credentials.password}
        response = self._http.request("POST", url, json_body=body)
        status = int(response.status_code)
        if status != 200:
            message = self._http.vendor_message(response)
            refused = status in (400, 401, 403)
            raise self.error(
                ("credentials rejected: " if refused else "")
                + f"POST {V1_AUTH_USER_PATH} answered HTTP {status}: {message}"
                + (f"; check {s.JQUANTS_MAIL_ADDRESS} and {s.JQUANTS_PASSWORD}" if refused else ""),
                status=status,
                auth=refused,
            )
        token = self._token(self._http.json(response, url), "refreshToken", V1_AUTH_USER_PATH)
        self._refresh_token = token
        self._refresh_minted_at = self._clock()

    def _token(self, payload: Any, key: str, path: str) -> str:
        token = payload.get(key) if isinstance(payload, dict) else None
        if not isinstance(token, str) or not token:
            raise self.error(f"POST {path}: the response has no {key!r}", auth=True)
        return token
