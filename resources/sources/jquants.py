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
Authentication, token refresh, pacing, retries and pagination belong to the client in
`resources.sources.jquants_client`, shared with the company master; this module knows the bar
endpoints and their rows.

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
    Pacer,
    RetryPolicy,
    assign_sessions,
    bar_frame,
    finish,
    numbers,
)
from resources.sources.jquants_client import JQuantsClient, JQuantsCredentials

__all__ = ["CALENDAR", "JQuantsCredentials", "JQuantsSource", "QueryMode"]

log = logging.getLogger(__name__)

CALENDAR = "XTKS"  # J-Quants covers TSE-listed issues only
JST = "Asia/Tokyo"

QueryMode = Literal["auto", "by_date", "by_code"]


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


class JQuantsSource(BarSource):
    """Daily (D1) and minute (M1) bars of TSE equities from the J-Quants API; no Dagster.

    `credentials` pick the API version (see module docs). `base_url` is the host root
    (default https://api.jquants.com; a trailing /v1 or /v2 is ignored because the version
    follows the credentials). `requests_per_minute` paces requests to the plan's limit (None:
    unpaced, 429s are retried); `pacer` (the shared Redis bucket) replaces it. `max_retries`
    overrides `retry.max_retries`; `sleep` and `clock` are injectable so
    tests neither wait nor depend on the wall clock.
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
        requests_per_minute: float | None = None,
        pacer: Pacer | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(credentials, JQuantsCredentials):
            raise TypeError("credentials must be JQuantsCredentials")
        if query_mode not in ("auto", "by_date", "by_code"):
            raise ValueError(f"query_mode must be auto, by_date or by_code, not {query_mode!r}")
        self.query_mode: QueryMode = query_mode
        policy = retry or RetryPolicy()
        if max_retries is not None:
            policy = replace(policy, max_retries=max_retries)
        self._client = JQuantsClient(
            credentials,
            base_url=base_url,
            requests_per_minute=requests_per_minute,
            pacer=pacer,
            timeout_s=timeout_s,
            retry=policy,
            session=session,
            max_pages=max_pages,
            sleep=sleep,
            clock=clock,
        )
        self.base_url = self._client.base_url
        self.max_pages = max_pages

    def __repr__(self) -> str:
        return f"JQuantsSource(base_url={self.base_url!r}, api={self.api_version})"

    @property
    def api_version(self) -> str:
        return self._client.api_version

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
        if tf is Timeframe.M1 and self.api_version != "v2":
            raise SourceError(
                "minute bars exist only in the v2 API (an API key with the minute add-on)",
                source=self.name,
            )
        return tf

    def _layout(self, tf: Timeframe) -> _Layout:
        if tf is Timeframe.M1:
            return _V2_MINUTE
        return _V2_DAILY if self.api_version == "v2" else _V1_DAILY

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

    def _pages(self, layout: _Layout, params: dict[str, str]) -> list[Any]:
        """Every row of a paginated query (the shared client follows pagination_key)."""
        return self._client.pages(layout.path, layout.data_key, params, max_pages=self.max_pages)

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
                raise self._client.error(f"row {i} of {path} is not an object", retryable=False)
        own = self._layout(tf).fields
        for fields in (own, *_FIELD_LAYOUTS):
            if any(fields["close"] in r for r in rows):
                return fields
        raise self._client.error(
            f"rows of {path} have neither {own['close']!r} nor another known close-price "
            "field; the response layout is not J-Quants'",
            retryable=False,
        )

    def _text(self, row: Mapping[str, Any], name: str, index: int) -> str:
        value = row.get(name)
        if not isinstance(value, str) or not value.strip():
            raise self._client.error(
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
                raise self._client.error(
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
                raise self._client.error(
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
