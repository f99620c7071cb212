"""J-Quants listed-company information (the company master), v2 or v1.

v2 (`GET /v2/equities/master`, header `x-api-key`) is used when an API key is configured; the
v1 flow otherwise: a refresh token (valid a week; obtained from mail + password when missing
or rejected) buys an ID token (valid 24 h) for `GET /v1/listed/info`. The ID token is renewed
an hour before it expires and once more when the API answers 401/400, because a token can be
revoked early. Both versions page with `pagination_key`; every page must arrive or the whole
fetch fails, so a sync never sees half a master.

v2 abbreviates field names (`CoName`, `S17`, `Mkt`...); records are returned in the v1
spelling (`CompanyName`, `Sector17Code`, `MarketCode`...) so the rest of the project and the
shipped sample share one layout.

Secrets: the client keeps credentials in private attributes, never puts them in an error
message (responses are quoted only after the secrets are masked), and masks the refresh
token in urllib3's debug log, which would otherwise print the `auth_refresh` query string.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from resources.errors import redact_url

DEFAULT_BASE_URL = "https://api.jquants.com"
V2_MASTER_PATH = "/v2/equities/master"
V1_INFO_PATH = "/v1/listed/info"
V1_AUTH_USER_PATH = "/v1/token/auth_user"
V1_AUTH_REFRESH_PATH = "/v1/token/auth_refresh"

ID_TOKEN_RENEW_AFTER_S = 23 * 3600  # valid 24 h: renew an hour early
REFRESH_TOKEN_RENEW_AFTER_S = 6 * 24 * 3600  # valid 7 days: log in again a day early
MAX_PAGES = 10_000  # a runaway pagination loop fails instead of running forever

# v2 spelling -> v1 spelling of listed-company fields.
V2_FIELDS: dict[str, str] = {
    "CoName": "CompanyName",
    "CoNameEn": "CompanyNameEnglish",
    "S17": "Sector17Code",
    "S17Nm": "Sector17CodeName",
    "S33": "Sector33Code",
    "S33Nm": "Sector33CodeName",
    "ScaleCat": "ScaleCategory",
    "Mkt": "MarketCode",
    "MktNm": "MarketCodeName",
    "Mrgn": "MarginCode",
    "MrgnNm": "MarginCodeName",
}


class JQuantsError(RuntimeError):
    """The J-Quants API did not deliver the master; the message never contains a secret.

    `retryable` marks transient failures (HTTP 5xx, exhausted rate-limit retries, network
    errors) that a later run may get past; `status` is the HTTP status when there was one.
    """

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status = status
        self.retryable = retryable


class JQuantsAuthError(JQuantsError):
    """Credentials are missing, expired or rejected."""


def normalise_record(record: Any) -> Any:
    """One listed-company record in the v1 field spelling (v2 abbreviations expanded).

    Anything that is not a mapping is returned as is: judging records is the sync's job, and
    it quarantines what it cannot use.
    """
    if not isinstance(record, Mapping):
        return record
    return {V2_FIELDS.get(str(k), str(k)): v for k, v in record.items()}


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


class JQuantsMasterClient:
    """Fetches the whole listed-company master, page by page, within the plan's rate limit."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        api_key: str | None = None,
        refresh_token: str | None = None,
        mail: str | None = None,
        password: str | None = None,
        requests_per_minute: int = 60,
        timeout_s: float = 30.0,
        max_retries: int = 5,
        max_backoff_s: float = 60.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if requests_per_minute < 1:
            raise ValueError("requests_per_minute must be at least 1")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key or None
        self._refresh_token = refresh_token or None
        self._refresh_token_at: float | None = None  # unknown age for a configured token
        self._mail = mail or None
        self._password = password or None
        self._id_token: str | None = None
        self._id_token_at = 0.0
        self._min_interval_s = 60.0 / requests_per_minute
        self._last_request_at: float | None = None
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.max_backoff_s = max_backoff_s
        self._session = session or requests.Session()
        self._sleep = sleep
        self._clock = clock
        self.requests_made = 0

    def __repr__(self) -> str:
        return f"JQuantsMasterClient({self.base_url!r}, version={self.api_version})"

    @property
    def api_version(self) -> str:
        return "v2" if self._api_key else "v1"

    # -- public ----------------------------------------------------------------------------
    def listed_info(self, date: str | None = None) -> list[Any]:
        """Every listed company (as of `date`, YYYY-MM-DD or YYYYMMDD; default: latest)."""
        if not (self._api_key or self._refresh_token or (self._mail and self._password)):
            raise JQuantsAuthError(
                "no J-Quants credentials: set JQUANTS_API_KEY (API v2), or "
                "JQUANTS_REFRESH_TOKEN or JQUANTS_MAIL_ADDRESS and JQUANTS_PASSWORD (API v1)"
            )
        path, list_key = (V2_MASTER_PATH, "data") if self._api_key else (V1_INFO_PATH, "info")
        base_params = {"date": date} if date else {}
        params: dict[str, str] = dict(base_params)
        records: list[Any] = []
        seen_keys: set[str] = set()
        for page in range(1, MAX_PAGES + 1):
            body = self._get_data(path, params, page)
            rows = body.get(list_key)
            if not isinstance(rows, list):
                raise JQuantsError(
                    f"GET {path} page {page}: the response has no {list_key!r} list "
                    f"(keys: {sorted(map(str, body))[:10]})"
                )
            records.extend(normalise_record(r) for r in rows)
            key = body.get("pagination_key")
            if not key:
                return records
            if not isinstance(key, str) or key in seen_keys:
                raise JQuantsError(f"GET {path} page {page}: pagination_key repeats or is bad")
            seen_keys.add(key)
            params = {**base_params, "pagination_key": key}
        raise JQuantsError(f"GET {path}: more than {MAX_PAGES} pages, giving up")

    # -- data requests ---------------------------------------------------------------------
    def _get_data(self, path: str, params: Mapping[str, str], page: int) -> dict[str, Any]:
        resp = self._request("GET", path, params=params, headers=self._auth_headers())
        if resp.status_code in (400, 401) and not self._api_key:
            # The ID token may have expired or been revoked early: renew it once and retry.
            self._id_token = None
            resp = self._request("GET", path, params=params, headers=self._auth_headers())
        if resp.status_code in (401, 403):
            what = "API key (JQUANTS_API_KEY)" if self._api_key else "ID token"
            raise JQuantsAuthError(
                f"GET {path} page {page}: the {what} was rejected "
                f"(HTTP {resp.status_code}: {self._excerpt(resp)})",
                status=resp.status_code,
            )
        if not resp.ok:
            raise JQuantsError(
                f"GET {path} page {page} failed: HTTP {resp.status_code}: {self._excerpt(resp)}",
                status=resp.status_code,
                retryable=resp.status_code >= 500,
            )
        return self._json(resp, f"GET {path} page {page}")

    def _auth_headers(self) -> dict[str, str]:
        if self._api_key:
            return {"x-api-key": self._api_key}
        return {"Authorization": f"Bearer {self._current_id_token()}"}

    # -- v1 tokens -------------------------------------------------------------------------
    def _current_id_token(self) -> str:
        fresh = self._clock() - self._id_token_at < ID_TOKEN_RENEW_AFTER_S
        if self._id_token is None or not fresh:
            self._id_token = self._new_id_token()
            self._id_token_at = self._clock()
        return self._id_token

    def _new_id_token(self) -> str:
        logged_in = False
        if self._refresh_token is None or self._refresh_token_stale():
            if self._mail and self._password:
                self._login()
                logged_in = True
            elif self._refresh_token is None:
                raise JQuantsAuthError("no refresh token and no mail/password to obtain one")
        resp = self._refresh(self._refresh_token or "")
        if resp.status_code in (400, 401, 403) and not logged_in and self._mail and self._password:
            self._login()  # the refresh token expired (valid a week): obtain a new one
            resp = self._refresh(self._refresh_token or "")
        if not resp.ok:
            raise JQuantsAuthError(
                f"POST {V1_AUTH_REFRESH_PATH}: could not obtain an ID token "
                f"(HTTP {resp.status_code}: {self._excerpt(resp)}); the refresh token is valid "
                "a week: set a new JQUANTS_REFRESH_TOKEN, or JQUANTS_MAIL_ADDRESS and "
                "JQUANTS_PASSWORD",
                status=resp.status_code,
            )
        token = self._json(resp, f"POST {V1_AUTH_REFRESH_PATH}").get("idToken")
        if not isinstance(token, str) or not token:
            raise JQuantsAuthError(f"POST {V1_AUTH_REFRESH_PATH}: no idToken in the response")
        return token

    def _refresh(self, refresh_token: str) -> requests.Response:
        return self._request("POST", V1_AUTH_REFRESH_PATH, params={"refreshtoken": refresh_token})

    def _refresh_token_stale(self) -> bool:
        at = self._refresh_token_at
        return at is not None and self._clock() - at >= REFRESH_TOKEN_RENEW_AFTER_S

    def _login(self) -> None:
        resp = self._request(
            "POST",
            V1_AUTH_USER_PATH,
            json_body={"mailaddress": self._mail, "password": self._password},
        )
        if not resp.ok:
            raise JQuantsAuthError(
                f"POST {V1_AUTH_USER_PATH}: login failed (HTTP {resp.status_code}: "
                f"{self._excerpt(resp)}); check JQUANTS_MAIL_ADDRESS and JQUANTS_PASSWORD",
                status=resp.status_code,
            )
        token = self._json(resp, f"POST {V1_AUTH_USER_PATH}").get("refreshToken")
        if not isinstance(token, str) or not token:
            raise JQuantsAuthError(f"POST {V1_AUTH_USER_PATH}: no refreshToken in the response")
        self._refresh_token = token
        self._refresh_token_at = self._clock()

    # -- transport -------------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> requests.Response:
        """One call, spaced by the plan's rate limit; 429 is retried with back-off."""
        for attempt in range(self.max_retries + 1):
            self._throttle()
            resp: requests.Response | None = None
            failure = ""
            try:
                resp = self._session.request(
                    method,
                    self.base_url + path,
                    params=params,
                    headers=dict(headers or {}),
                    json=json_body,
                    timeout=self.timeout_s,
                )
            except requests.RequestException as exc:
                failure = type(exc).__name__
            if resp is None:
                # Raised outside the handler: the requests exception (its text holds the full
                # URL, the refresh token included on auth_refresh) is neither cause nor
                # context of this one, so no traceback can show it.
                raise JQuantsError(
                    f"{method} {path}: {failure} reaching {redact_url(self.base_url)}",
                    retryable=True,
                )
            self.requests_made += 1
            if resp.status_code != 429:
                return resp
            if attempt == self.max_retries:
                break
            self._sleep(self._backoff_s(resp, attempt))
        raise JQuantsError(
            f"{method} {path}: still rate limited (HTTP 429) after {self.max_retries} retries",
            status=429,
            retryable=True,
        )

    def _throttle(self) -> None:
        now = self._clock()
        if self._last_request_at is not None:
            wait = self._min_interval_s - (now - self._last_request_at)
            if wait > 0:
                self._sleep(wait)
                now = self._clock()
        self._last_request_at = now

    def _backoff_s(self, resp: requests.Response, attempt: int) -> float:
        retry_after = resp.headers.get("Retry-After", "")
        if retry_after.strip().isdigit():
            return min(float(retry_after), self.max_backoff_s)
        return min(max(1.0, self._min_interval_s) * 2**attempt, self.max_backoff_s)

    def _json(self, resp: requests.Response, what: str) -> dict[str, Any]:
        try:
            body = resp.json()
        except (ValueError, json.JSONDecodeError):
            raise JQuantsError(f"{what}: the response is not JSON") from None
        if not isinstance(body, dict):
            raise JQuantsError(f"{what}: the response is not a JSON object")
        return body

    def _excerpt(self, resp: requests.Response, limit: int = 200) -> str:
        """The API's message (JSON `message` or text), secrets masked, bounded."""
        try:
            body = resp.json()
            text = str(body.get("message", body)) if isinstance(body, dict) else str(body)
        except ValueError:
            text = resp.text
        for secret in (
            self._api_key,
            self._refresh_token,
            self._id_token,
            self._password,
            self._mail,
        ):
            if secret:
                text = text.replace(secret, "***")
        text = " ".join(text.split())
        return text[:limit] + ("..." if len(text) > limit else "")
