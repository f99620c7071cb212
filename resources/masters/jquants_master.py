"""J-Quants listed-company information (the company master), v2 or v1.

v2 (`GET /v2/equities/master`, header `x-api-key`) is used when an API key is configured; the
v1 flow otherwise (`GET /v1/listed/info` with an ID token bought with a refresh token, itself
obtained from mail + password when missing or rejected). Login, token renewal, pacing to the
plan's rate limit, retries and pagination are the shared `resources.sources.jquants_client`'s; this
module knows the master's endpoints and its field names. Every page must arrive or the whole
fetch fails, so a sync never sees half a master.

v2 abbreviates field names (`CoName`, `S17`, `Mkt`...); records are returned in the v1
spelling (`CompanyName`, `Sector17Code`, `MarketCode`...) so the rest of the project and the
shipped sample share one layout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from market_assets.core import settings as s
from resources.sources.http import Pacer, RetryPolicy
from resources.sources.jquants_client import (
    DEFAULT_BASE_URL,
    JQuantsAuthError,
    JQuantsClient,
    JQuantsCredentials,
    JQuantsError,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "JQuantsAuthError",
    "JQuantsError",
    "JQuantsMasterClient",
    "normalise_record",
]

V2_MASTER_PATH = "/v2/equities/master"
V1_INFO_PATH = "/v1/listed/info"

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


def normalise_record(record: Any) -> Any:
    """One listed-company record in the v1 field spelling (v2 abbreviations expanded).

    Anything that is not a mapping is returned as is: judging records is the sync's job, and
    it quarantines what it cannot use.
    """
    if not isinstance(record, Mapping):
        return record
    return {V2_FIELDS.get(str(k), str(k)): v for k, v in record.items()}


class JQuantsMasterClient:
    """Fetches the whole listed-company master, page by page, within the plan's rate limit.

    Credentials are checked when the master is fetched, not here, so a resource can be built
    (and its source name shown) before the secrets are known. The defaults suit one sync a
    day: no jitter (no concurrent clients to spread), up to `max_retries` retries of
    429/5xx/network errors, each wait at most `max_backoff_s` unless the server's Retry-After
    says longer, and `max_total_s` per request before giving up as retryable; `retry`
    replaces that policy whole.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        api_key: str | None = None,
        refresh_token: str | None = None,
        mail: str | None = None,
        password: str | None = None,
        requests_per_minute: float = 60,
        pacer: Pacer | None = None,
        timeout_s: float = 30.0,
        max_retries: int = 5,
        max_backoff_s: float = 60.0,
        max_total_s: float = 300.0,
        retry: RetryPolicy | None = None,
        session: Any | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        policy = retry or RetryPolicy(
            max_retries=max_retries,
            backoff_s=1.0,
            max_backoff_s=max_backoff_s,
            max_total_s=max_total_s,
            jitter=0.0,
        )
        try:
            credentials: JQuantsCredentials | None = JQuantsCredentials(
                api_key=api_key, refresh_token=refresh_token, mail_address=mail, password=password
            )
        except ValueError:
            credentials = None  # reported by listed_info, which is where it matters
        self._client = (
            JQuantsClient(
                credentials,
                base_url=base_url,
                requests_per_minute=requests_per_minute,
                pacer=pacer,
                timeout_s=timeout_s,
                retry=policy,
                session=session,
                sleep=sleep,
                clock=clock,
            )
            if credentials is not None
            else None
        )
        self.base_url = self._client.base_url if self._client else base_url.rstrip("/")

    def __repr__(self) -> str:
        return f"JQuantsMasterClient({self.base_url!r}, version={self.api_version})"

    @property
    def api_version(self) -> str:
        return self._client.api_version if self._client else "v1"

    @property
    def requests_made(self) -> int:
        return self._client.requests_made if self._client else 0

    def listed_info(self, date: str | None = None) -> list[Any]:
        """Every listed company (as of `date`, YYYY-MM-DD or YYYYMMDD; default: latest)."""
        if self._client is None:
            raise JQuantsAuthError(
                f"no J-Quants credentials: set {s.JQUANTS_API_KEY} (API v2), or "
                f"{s.JQUANTS_REFRESH_TOKEN} or {s.JQUANTS_MAIL_ADDRESS} and {s.JQUANTS_PASSWORD} "
                "(API v1)"
            )
        path, key = (V2_MASTER_PATH, "data") if self.api_version == "v2" else (V1_INFO_PATH, "info")
        params: Mapping[str, str] = {"date": date} if date else {}
        return [normalise_record(r) for r in self._client.pages(path, key, params)]
