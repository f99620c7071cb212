"""J-Quants (JPX) bars for Tokyo equities: daily quotes (D1) and minute bars (M1, an add-on).

API versions. An API key selects v2 (`x-api-key` header; `/v2/equities/bars/daily` and
`/v2/equities/bars/minute`, rows under "data", abbreviated fields Date, Code, O, H, L, C, Vo,
AdjFactor, minute bars with Time "HH:mm"). Without a key, a refresh token or mail address and
password select v1: `POST /v1/token/auth_user` gives a refresh token (valid a week),
`POST /v1/token/auth_refresh?refreshtoken=` an id token (24 h) sent as a Bearer token;
`/v1/prices/daily_quotes` has rows under "daily_quotes" with long field names (Open, High,
Low, Close, Volume, AdjustmentFactor). v1 has no minute bars. Both paginate with
`pagination_key` until a response has none. Field names follow jpx-jquants.com/en/spec
(eq-bars-daily, eq-bars-minute) and jpx.gitbook.io/j-quants-en (daily_quotes, auth).

Queries. `date=` without `code=` returns every listed code for one day, so a run over many
symbols costs one paginated call per session; one symbol over a range costs one call with
`code=&from=&to=`. `query_mode="auto"` picks whichever needs fewer calls for daily bars, and
per code for minute bars (an all-codes minute day is over a million rows).

Prices are stored raw, as delivered. `adj_factor` holds J-Quants' AdjustmentFactor *as
delivered*: the per-day event factor (0.5 on the ex-date of a 1:2 split, 1.0 on every other
day), not a cumulative product. A cumulative factor for day d would be the product of every
later day's factor, which changes with each future split, so storing it would rewrite stored
history and need every later day at fetch time. Readers derive adjusted prices as
raw(d) * prod(adj_factor(t) for sessions t > d). A null factor becomes 1.0 (with a warning):
the column cannot hold NaN and the row's prices are still valid.

Timestamps. D1 bars get the session's open in UTC (`calendars.session_bounds`), session_date =
Date. Minute bars are labelled by their opening minute in JST (UTC+9, no DST), converted to UTC.

Bad data. A page that is not a JSON object, lacks its row list, or rows without a usable
Code/Date/Time raise SourceError(retryable=False) naming the field; null or mistyped prices
and volumes become NaN (J-Quants sends null prices for days without trades), so the row
rules quarantine those rows with a reason instead of the whole batch failing.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from market_assets.core.calendars import (
    CalendarError,
    is_session,
    next_session,
    session_bounds,
    to_date,
)
from market_assets.core.timeframes import Timeframe
from market_assets.core.universe import Instrument
from resources.sources.base import BarSource, SourceError
from resources.sources.http import (
    HttpClient,
    RetryPolicy,
    assign_sessions,
    bar_frame,
    default_session,
    finish,
    numbers,
)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.jquants.com"
CALENDAR = "XTKS"  # J-Quants covers TSE-listed issues only
JST = "Asia/Tokyo"

ENV_API_KEY = "JQUANTS_API_KEY"
ENV_REFRESH_TOKEN = "JQUANTS_REFRESH_TOKEN"
ENV_MAIL_ADDRESS = "JQUANTS_MAIL_ADDRESS"
ENV_PASSWORD = "JQUANTS_PASSWORD"
ENV_BASE_URL = "JQUANTS_BASE_URL"

QueryMode = Literal["auto", "by_date", "by_code"]


@dataclass(frozen=True, repr=False)
class JQuantsCredentials:
    """Either a v2 API key, or v1 credentials (a refresh token and/or mail + password).

    The repr shows which are set, never their values.
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
                "J-Quants credentials need an API key (v2), or a refresh token, or a mail "
                "address and password (v1)"
            )

    @property
    def api_version(self) -> Literal["v1", "v2"] | None:
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
            api_key=env.get(ENV_API_KEY),
            refresh_token=env.get(ENV_REFRESH_TOKEN),
            mail_address=env.get(ENV_MAIL_ADDRESS),
            password=env.get(ENV_PASSWORD),
        )


@dataclass(frozen=True)
class _Layout:
    """One endpoint's path, row-list key and field names (ours -> the vendor's)."""

    path: str
    data_key: str
    fields: Mapping[str, str] = field(hash=False)


_PRICE_V2 = {"open": "O", "high": "H", "low": "L", "close": "C", "volume": "Vo"}
_PRICE_V1 = {"open": "Open", "high": "High", "low": "Low", "close": "Close", "volume": "Volume"}
_V2_DAILY = _Layout(
    "/v2/equities/bars/daily",
    "data",
    {"code": "Code", "date": "Date", **_PRICE_V2, "adj_factor": "AdjFactor"},
)
_V1_DAILY = _Layout(
    "/v1/prices/daily_quotes",
    "daily_quotes",
    {"code": "Code", "date": "Date", **_PRICE_V1, "adj_factor": "AdjustmentFactor"},
)
_V2_MINUTE = _Layout(
    "/v2/equities/bars/minute",
    "data",
    {"code": "Code", "date": "Date", "time": "Time", **_PRICE_V2},
)
# Field layouts a page may use, tried in order when the endpoint's own names are absent.
_FIELD_LAYOUTS: tuple[Mapping[str, str], ...] = (
    {**_V2_DAILY.fields, "time": "Time"},
    {**_V1_DAILY.fields, "time": "Time"},
)


class _Auth:
    """The headers for each request: a v2 API key, or a v1 id token minted and kept fresh.

    The id token is renewed an hour before its 24 h expiry, and on demand after a 401; the
    refresh token (a week) is re-minted from mail + password when J-Quants rejects it.
    """

    ID_TOKEN_TTL_S = 24 * 3600.0
    REFRESH_TOKEN_TTL_S = 7 * 24 * 3600.0
    MARGIN_S = 3600.0

    def __init__(
        self, credentials: JQuantsCredentials, base_url: str, clock: Callable[[], float]
    ) -> None:
        self.credentials = credentials
        self.version = credentials.api_version
        self.base_url = base_url
        self.clock = clock
        self.http: HttpClient | None = None  # set by the source (it needs our secrets)
        self._refresh_token = credentials.refresh_token
        self._refresh_minted_at: float | None = None
        self._id_token: str | None = None
        self._id_minted_at = 0.0

    def secrets(self) -> tuple[str | None, ...]:
        return (*self.credentials.secrets(), self._refresh_token, self._id_token)

    def headers(self) -> dict[str, str]:
        if self.version == "v2":
            return {"x-api-key": self.credentials.api_key or ""}
        age = self.clock() - self._id_minted_at
        if self._id_token is None or age > self.ID_TOKEN_TTL_S - self.MARGIN_S:
            self._mint_id_token()
        return {"Authorization": f"Bearer {self._id_token}"}

    def invalidate(self) -> None:
        """Forget the id token (J-Quants said it is invalid or expired)."""
        self._id_token = None

    def _mint_id_token(self) -> None:
        creds = self.credentials
        if self._refresh_minted_at is not None and (
            self.clock() - self._refresh_minted_at > self.REFRESH_TOKEN_TTL_S - self.MARGIN_S
        ):
            self._refresh_token = None  # ours is about to expire; mint a new one below
        if self._refresh_token:
            token = self._auth_refresh(self._refresh_token)
            if token:
                self._set_id_token(token)
                return
            self._refresh_token = None
        if creds.mail_address and creds.password:
            self._refresh_token = self._auth_user()
            self._refresh_minted_at = self.clock()
            token = self._auth_refresh(self._refresh_token)
            if token:
                self._set_id_token(token)
                return
        raise self._http().error(
            "credentials rejected: J-Quants refused the refresh token"
            + ("" if creds.mail_address and creds.password else " (no mail/password to renew it)"),
            retryable=False,
        )

    def _set_id_token(self, token: str) -> None:
        self._id_token = token
        self._id_minted_at = self.clock()

    def _http(self) -> HttpClient:
        assert self.http is not None, "the source wires its HttpClient in"
        return self.http

    def _auth_user(self) -> str:
        http = self._http()
        url = f"{self.base_url}/v1/token/auth_user"
        body = {"mailaddress": self.credentials.mail_address, "password": self.credentials.password}
        response = http.request("POST", url, json_body=body)
        status = int(response.status_code)
        if status in (400, 401, 403):
            raise http.error(
                f"credentials rejected: POST /v1/token/auth_user answered HTTP {status}: "
                f"{http.vendor_message(response)}",
                retryable=False,
            )
        if status != 200:
            raise http.error(f"POST /v1/token/auth_user answered HTTP {status}", retryable=False)
        return self._token(http.json(response, url), "refreshToken", "/v1/token/auth_user")

    def _auth_refresh(self, refresh_token: str) -> str | None:
        """A new id token, or None when J-Quants rejects the refresh token."""
        http = self._http()
        url = f"{self.base_url}/v1/token/auth_refresh"
        response = http.request("POST", url, params={"refreshtoken": refresh_token})
        status = int(response.status_code)
        if status in (400, 401, 403):
            log.warning(
                "J-Quants rejected the refresh token (HTTP %s): %s",
                status,
                http.vendor_message(response),
            )
            return None
        if status != 200:
            raise http.error(f"POST /v1/token/auth_refresh answered HTTP {status}", retryable=False)
        return self._token(http.json(response, url), "idToken", "/v1/token/auth_refresh")

    def _token(self, payload: Any, key: str, path: str) -> str:
        token = payload.get(key) if isinstance(payload, dict) else None
        if not isinstance(token, str) or not token:
            raise self._http().error(f"response from {path} has no {key!r}", retryable=False)
        return token


class JQuantsSource(BarSource):
    """Daily (D1) and minute (M1) bars of TSE equities from the J-Quants API; no Dagster.

    `credentials` pick the API version (see module docs). `base_url` is the host root
    (default https://api.jquants.com; a trailing /v1 or /v2 is ignored because the version
    follows the credentials). `max_retries` overrides `retry.max_retries`; `sleep` and `clock`
    are injectable so tests neither wait nor depend on the wall clock.
    """

    name: ClassVar[str] = "jquants"
    MINUTE_TIMEFRAMES: ClassVar[tuple[Timeframe, ...]] = (Timeframe.M1,)

    def __init__(
        self,
        credentials: JQuantsCredentials,
        *,
        base_url: str | None = None,
        timeout_s: float = 30.0,
        max_retries: int | None = None,
        session: Any | None = None,
        retry: RetryPolicy | None = None,
        query_mode: QueryMode = "auto",
        max_pages: int = 10_000,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(credentials, JQuantsCredentials):
            raise TypeError("credentials must be JQuantsCredentials")
        if query_mode not in ("auto", "by_date", "by_code"):
            raise ValueError(f"query_mode must be auto, by_date or by_code, not {query_mode!r}")
        root = (base_url or DEFAULT_BASE_URL).rstrip("/")
        for suffix in ("/v1", "/v2"):
            root = root.removesuffix(suffix)
        self.base_url = root
        self.query_mode: QueryMode = query_mode
        self.max_pages = max_pages
        policy = retry or RetryPolicy()
        if max_retries is not None:
            policy = replace(policy, max_retries=max_retries)
        self._auth = _Auth(credentials, root, clock)
        self._http = HttpClient(
            source=self.name,
            session=session if session is not None else default_session(),
            timeout_s=timeout_s,
            retry=policy,
            secrets=self._auth.secrets,
            sleep=sleep,
            clock=clock,
        )
        self._auth.http = self._http

    def __repr__(self) -> str:
        return f"JQuantsSource(base_url={self.base_url!r}, api={self._auth.version})"

    @property
    def api_version(self) -> str:
        return str(self._auth.version)

    # --- BarSource -------------------------------------------------------------------------

    def fetch_many(
        self,
        instruments: Iterable[Instrument],
        session_dates: Sequence[dt.date],
        timeframe: Timeframe | str | None = None,
    ) -> pd.DataFrame:
        """Every instrument x session, sorted by (symbol, timeframe, ts); non-sessions give no
        rows and no request."""
        groups: dict[Timeframe, dict[str, Instrument]] = defaultdict(dict)
        for inst in instruments:
            code = self._code(inst)
            tf = self._timeframe(inst, timeframe)
            known = groups[tf].setdefault(code, inst)
            if known != inst:
                raise SourceError(
                    f"{known.symbol} and {inst.symbol} both map to J-Quants code {code}",
                    source=self.name,
                )
        try:
            days = sorted({to_date(d) for d in session_dates})
            sessions = [d for d in days if is_session(CALENDAR, d)]
        except CalendarError as exc:
            raise SourceError(str(exc), source=self.name) from None
        frames: list[pd.DataFrame] = []
        for tf, by_code in groups.items():
            if sessions and by_code:
                rows = self._rows(tf, sorted(by_code), sessions)
                frames.extend(self._bars(tf, rows, by_code, sessions))
        return finish(frames)

    # --- what to ask for --------------------------------------------------------------------

    def _code(self, inst: Instrument) -> str:
        if inst.calendar != CALENDAR:
            raise SourceError(
                f"{inst.symbol} trades on {inst.calendar}; J-Quants covers TSE (XTKS) only",
                source=self.name,
            )
        code = inst.vendor_symbol("jquants")
        if not code:
            raise SourceError(f"{inst.symbol} has no J-Quants code", source=self.name)
        return _normal_code(code)

    def _timeframe(self, inst: Instrument, timeframe: Timeframe | str | None) -> Timeframe:
        try:
            tf = inst.base_timeframe if timeframe is None else Timeframe.parse(timeframe)
        except ValueError as exc:
            raise SourceError(str(exc), source=self.name) from None
        if tf not in (Timeframe.D1, Timeframe.M1):
            raise SourceError(f"delivers D1 and M1 only, not {tf}", source=self.name)
        if tf is Timeframe.M1 and self._auth.version != "v2":
            raise SourceError(
                "minute bars exist only in the v2 API (an API key with the minute add-on)",
                source=self.name,
            )
        return tf

    def _layout(self, tf: Timeframe) -> _Layout:
        if tf is Timeframe.M1:
            return _V2_MINUTE
        return _V2_DAILY if self._auth.version == "v2" else _V1_DAILY

    def _mode(self, tf: Timeframe, codes: list[str], runs: list[list[dt.date]]) -> str:
        if self.query_mode != "auto":
            return self.query_mode
        if tf is Timeframe.M1:
            return "by_code"
        by_date_calls = sum(len(r) for r in runs)
        return "by_date" if by_date_calls < len(codes) * len(runs) else "by_code"

    def _rows(self, tf: Timeframe, codes: list[str], sessions: list[dt.date]) -> list[Any]:
        layout = self._layout(tf)
        runs = _runs(sessions)
        rows: list[Any] = []
        if self._mode(tf, codes, runs) == "by_date":
            for day in sessions:
                rows.extend(self._pages(layout, {"date": day.strftime("%Y%m%d")}))
            return rows
        for code in codes:
            for run in runs:
                params = {"code": code}
                if len(run) == 1:
                    params["date"] = run[0].strftime("%Y%m%d")
                else:
                    params["from"] = run[0].strftime("%Y%m%d")
                    params["to"] = run[-1].strftime("%Y%m%d")
                rows.extend(self._pages(layout, params))
        return rows

    # --- HTTP ---------------------------------------------------------------------------------

    def _pages(self, layout: _Layout, params: dict[str, str]) -> list[Any]:
        """Every row of a paginated query, following pagination_key until it is absent."""
        rows: list[Any] = []
        seen: set[str] = set()
        query = dict(params)
        for page in range(1, self.max_pages + 1):
            payload = self._get_json(layout.path, query)
            if not isinstance(payload, dict):
                raise self._http.error(
                    f"page {page} of {layout.path} is a JSON {type(payload).__name__}, "
                    "not an object",
                    retryable=False,
                )
            data = payload.get(layout.data_key)
            if not isinstance(data, list):
                raise self._http.error(
                    f"page {page} of {layout.path} has no {layout.data_key!r} list "
                    f"(keys: {sorted(map(str, payload))[:8]})",
                    retryable=False,
                )
            rows.extend(data)
            key = payload.get("pagination_key")
            if not key:
                return rows
            if not isinstance(key, str) or key in seen:
                raise self._http.error(
                    f"page {page} of {layout.path} has an invalid or repeated pagination_key",
                    retryable=False,
                )
            seen.add(key)
            query["pagination_key"] = key
        raise self._http.error(
            f"{layout.path} did not finish within {self.max_pages} pages", retryable=False
        )

    def _get_json(self, path: str, params: Mapping[str, str]) -> Any:
        """GET with auth; a v1 id token is refreshed once on 401 or 400 'expired'."""
        url = f"{self.base_url}{path}"
        refreshed = False
        while True:
            response = self._http.request("GET", url, params=params, headers=self._auth.headers())
            status = int(response.status_code)
            if 200 <= status < 300:
                return self._http.json(response, url)
            message = self._http.vendor_message(response)
            expired = status == 401 or (status == 400 and "expired" in message.lower())
            if expired and self._auth.version == "v1" and not refreshed:
                log.info("J-Quants id token refused (HTTP %s); refreshing it once", status)
                self._auth.invalidate()
                refreshed = True
                continue
            if status in (401, 403) or expired:
                after = " after refreshing the id token" if refreshed else ""
                raise self._http.error(
                    f"credentials rejected: GET {path} answered HTTP {status}{after}: {message}",
                    retryable=False,
                )
            raise self._http.error(f"GET {path} answered HTTP {status}: {message}", retryable=False)

    # --- rows to bars -------------------------------------------------------------------------

    def _bars(
        self,
        tf: Timeframe,
        rows: list[Any],
        by_code: Mapping[str, Instrument],
        sessions: list[dt.date],
    ) -> list[pd.DataFrame]:
        if not rows:
            return []
        fields = self._fields(tf, rows)
        codes = [self._text(row, fields["code"], i) for i, row in enumerate(rows)]
        keep = [i for i, c in enumerate(codes) if _normal_code(c) in by_code]
        if not keep:
            return []
        mine = [rows[i] for i in keep]
        day_text = [self._text(r, fields["date"], keep[j]) for j, r in enumerate(mine)]
        days = self._dates(day_text, fields["date"])
        wanted = np.array(sessions, dtype="datetime64[D]")
        if tf is Timeframe.D1:
            ts, session_days = self._daily_times(days, wanted)
        else:
            times = [self._text(r, fields["time"], keep[j]) for j, r in enumerate(mine)]
            ts = self._minute_times(days, times, fields["time"])
            session_days = assign_sessions(CALENDAR, ts, fallback=days)
        inside = np.isin(session_days, wanted)
        values = {
            name: self._numbers(mine, fields[name])
            for name in ("open", "high", "low", "close", "volume")
        }
        if tf is Timeframe.D1:
            adj = self._numbers(mine, fields["adj_factor"])
            missing = np.isnan(adj) & inside
            if missing.any():
                log.warning(
                    "J-Quants: %d rows without %s; stored as 1.0",
                    int(missing.sum()),
                    fields["adj_factor"],
                )
            adj = np.where(np.isnan(adj), 1.0, adj)
        else:
            adj = np.ones(len(mine))
        row_codes = np.array([_normal_code(codes[i]) for i in keep], dtype=object)
        frames = []
        for code, inst in by_code.items():
            m = inside & (row_codes == code)
            if m.any():
                frames.append(
                    bar_frame(
                        symbol=inst.symbol,
                        timeframe=tf.value,
                        source=self.name,
                        ts=ts[m],
                        session_days=session_days[m],
                        open_=values["open"][m],
                        high=values["high"][m],
                        low=values["low"][m],
                        close=values["close"][m],
                        volume=values["volume"][m],
                        adj_factor=adj[m],
                    )
                )
        return frames

    def _fields(self, tf: Timeframe, rows: list[Any]) -> Mapping[str, str]:
        """The endpoint's field names, or the other version's when the page uses those."""
        path = self._layout(tf).path
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise self._http.error(f"row {i} of {path} is not an object", retryable=False)
        own = self._layout(tf).fields
        for fields in (own, *_FIELD_LAYOUTS):
            if any(fields["close"] in r for r in rows):
                return fields
        raise self._http.error(
            f"rows of {path} have neither {own['close']!r} nor another known close-price "
            "field; the response layout is not J-Quants'",
            retryable=False,
        )

    def _text(self, row: Mapping[str, Any], name: str, index: int) -> str:
        value = row.get(name)
        if not isinstance(value, str) or not value.strip():
            raise self._http.error(
                f"row {index}: field {name!r} is missing or not a string ({value!r:.40})",
                retryable=False,
            )
        return value.strip()

    def _dates(self, texts: list[str], name: str) -> np.ndarray:
        parsed: dict[str, np.datetime64] = {}
        for text in set(texts):
            try:
                parsed[text] = np.datetime64(dt.date.fromisoformat(text), "D")
            except ValueError:
                raise self._http.error(
                    f"field {name!r} has {text[:20]!r}, not a date (YYYY-MM-DD)", retryable=False
                ) from None
        return np.array([parsed[t] for t in texts], dtype="datetime64[D]")

    def _daily_times(
        self, days: np.ndarray, wanted: np.ndarray
    ) -> tuple[pd.DatetimeIndex, np.ndarray]:
        """D1: ts = the session's open (UTC); rows on non-requested days get NaT (dropped)."""
        opens: dict[np.datetime64, pd.Timestamp] = {}
        for day in np.unique(days):
            bounds = session_bounds(CALENDAR, day.astype(object)) if day in wanted else None
            if bounds is not None:
                opens[day] = bounds[0]
            elif day >= wanted.min() and day <= wanted.max() and not is_session(CALENDAR, day):
                log.warning("J-Quants has bars dated %s, which is not an XTKS session", day)
        ts = pd.DatetimeIndex([opens.get(d, pd.NaT) for d in days], tz="UTC").as_unit("ns")
        session_days = np.where(pd.isna(ts), np.datetime64("NaT", "D"), days)
        return ts, session_days.astype("datetime64[D]")

    def _minute_times(self, days: np.ndarray, times: list[str], name: str) -> pd.DatetimeIndex:
        """Date + Time (JST, the bar's opening minute) to UTC."""
        minutes: dict[str, int] = {}
        for text in set(times):
            try:
                t = dt.time.fromisoformat(text)
            except ValueError:
                raise self._http.error(
                    f"field {name!r} has {text[:20]!r}, not a time (HH:mm)", retryable=False
                ) from None
            minutes[text] = t.hour * 60 + t.minute
        offsets = np.array([minutes[t] for t in times], dtype="timedelta64[m]")
        local = days.astype("datetime64[ns]") + offsets.astype("timedelta64[ns]")
        return pd.DatetimeIndex(local).tz_localize(JST).tz_convert("UTC")

    def _numbers(self, rows: list[Mapping[str, Any]], name: str) -> np.ndarray:
        values, wrong = numbers([r.get(name) for r in rows])
        if wrong:
            log.warning("J-Quants: %d rows have a non-numeric %r; passed on as NaN", wrong, name)
        return values


def _normal_code(code: str) -> str:
    """J-Quants codes are 5 characters ('72030'); 4-character input gets the '0' suffix."""
    return code + "0" if len(code) == 4 else code


def _runs(sessions: list[dt.date]) -> list[list[dt.date]]:
    """Requested sessions split into runs of consecutive XTKS sessions (one from/to each)."""
    runs: list[list[dt.date]] = []
    for day in sessions:
        if runs and next_session(CALENDAR, runs[-1][-1]) == day:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs
