"""Yahoo Finance bars (M1, D1) from the chart endpoint that yfinance itself calls.

Why not `yfinance.Ticker.history()`: yfinance 1.7 has no base-URL setting (`_BASE_URL_` is a
module constant copied into each scraper module by import), fetches a cookie and crumb from
hard-coded Yahoo hosts before every session, keeps one process-wide session singleton, and by
default turns errors into an empty frame (`YfConfig.debug.hide_exceptions`), which would look
like "no bars" rather than a failure. Its only public seams are `session=` (a curl_cffi or
requests session) and a proxy setting, neither of which lets a test answer the chart request
locally. So the narrowest seam is the HTTP endpoint itself:

    GET {base_url}/v8/finance/chart/{symbol}?period1=<epoch s>&period2=<epoch s>&interval=1m|1d

answering `chart.result[0]` with `timestamp` (epoch seconds, the bar's opening time),
`indicators.quote[0].open/high/low/close/volume`, `indicators.adjclose[0].adjclose` (daily
only) and `meta` (`exchangeTimezoneName`, `gmtoffset`, `dataGranularity`), or `chart.error`
with a code and description. This source fetches and parses that JSON itself, by default
through curl_cffi impersonating Chrome (as yfinance does: Yahoo throttles non-browser TLS), and
the same code runs against a local server in tests.

Null gaps. Yahoo fills minutes without data with nulls in every array. Those rows are passed
on with NaN prices rather than dropped: the pipeline's row rules then quarantine each one with
the reason `non_finite`, so the gaps are counted per partition in the collection log and kept
as evidence, where dropping them here would be a silent repair. A warning logs the count too.

Values. Yahoo serialises prices from float32, so 149.87 arrives as 149.8699951171875. A value
that is exactly a float32 is replaced by the double nearest to its shortest float32 decimal
(149.87); other values are kept. Prices are not rounded to the universe's tick size: real TSE
tick sizes depend on the price band and are finer than the generator's 1 JPY for TOPIX100
names. Yahoo's open/high/low/close are split-adjusted but not dividend-adjusted;
adjclose / close is Yahoo's cumulative dividend factor as of the fetch. It is converted to the
project's one meaning of `adj_factor`, the event factor on its ex-date session (1.0 on other
sessions; market_assets/core/adjustments.py), from the step between neighbouring sessions. Minute
bars carry no adjclose and get 1.0.

Sessions. Minute bars belong to the calendar session whose window contains them; a bar
outside every window (e.g. Tokyo's 15:30 closing-auction print) is given its local date in the
calendar's time zone so the row rules can quarantine it as `outside_partition`. Daily bars are
labelled by their date in the exchange's time zone (from `meta`) and stamped with the session's
open from our calendar. For FX, Yahoo's daily bar is a London calendar day while an FX24X5
session runs 17:00-17:00 New York; the London day D is filed under session D (21 of 24 hours
overlap). Yahoo keeps about 30 days of 1m bars and serves at most 7 days per request, so
minute requests are cut into chunks of at most 7 days.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from market_assets.core.adjustments import events_from_cumulative
from market_assets.core.bars import empty_bars
from market_assets.core.calendars import (
    CalendarError,
    calendar_timezone,
    is_session,
    session_bounds,
    to_date,
)
from market_assets.core.timeframes import Timeframe
from market_assets.core.universe import Instrument
from resources.sources.base import BarSource, SourceError
from resources.sources.http import (
    HttpClient,
    Pacer,
    RetryPolicy,
    assign_sessions,
    bar_frame,
    default_session,
    finish,
    numbers,
)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://query2.finance.yahoo.com"
INTERVALS: dict[Timeframe, str] = {Timeframe.M1: "1m", Timeframe.D1: "1d"}
MINUTE_REQUEST_SPAN = pd.Timedelta(days=7)  # Yahoo's limit for one 1m request
# Long enough to contain the previous session across the longest closures (Tokyo's New Year and
# Golden Week are under a week).
EVENT_LOOKBACK = pd.Timedelta(days=14)
_QUOTE_FIELDS = ("open", "high", "low", "close", "volume")


class YFinanceSource(BarSource):
    """M1 and D1 bars from Yahoo's chart endpoint; no credentials, no Dagster.

    `base_url` defaults to Yahoo's (query2.finance.yahoo.com); `session` defaults to a
    curl_cffi session impersonating Chrome. `max_retries` overrides `retry.max_retries`;
    `pacer` paces every attempt (the shared Redis bucket of the
    configured yfinance limit; None: unpaced); `sleep` and `clock` are injectable so tests
    never wait.
    """

    name: ClassVar[str] = "yfinance"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        timeout_s: float = 30.0,
        max_retries: int | None = None,
        session: Any | None = None,
        retry: RetryPolicy | None = None,
        pacer: Pacer | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        policy = retry or RetryPolicy()
        if max_retries is not None:
            policy = replace(policy, max_retries=max_retries)
        self._http = HttpClient(
            source=self.name,
            session=session if session is not None else default_session(browser=True),
            timeout_s=timeout_s,
            retry=policy,
            sleep=sleep,
            clock=clock,
            throttle=pacer,
        )

    def __repr__(self) -> str:
        return f"YFinanceSource(base_url={self.base_url!r})"

    # --- BarSource -------------------------------------------------------------------------

    def fetch_many(
        self,
        instruments: Iterable[Instrument],
        session_dates: Sequence[dt.date],
        timeframe: Timeframe | str | None = None,
    ) -> pd.DataFrame:
        """Every instrument x session, sorted by (symbol, timeframe, ts); one chart request per
        instrument (daily) or per 7-day chunk (minute); non-sessions cost no request."""
        by_symbol: dict[str, Instrument] = {}
        for inst in instruments:
            if by_symbol.setdefault(inst.symbol, inst) != inst:
                raise SourceError(f"two different instruments for {inst.symbol}", source=self.name)
        days = sorted({to_date(d) for d in session_dates})
        frames: list[pd.DataFrame] = []
        for symbol in sorted(by_symbol):
            inst = by_symbol[symbol]
            tf = self._timeframe(inst, timeframe)
            vendor = inst.vendor_symbol("yfinance")
            if not vendor:
                raise SourceError(f"{symbol} has no yfinance symbol", source=self.name)
            try:
                sessions = [d for d in days if is_session(inst.calendar, d)]
            except CalendarError as exc:
                raise SourceError(str(exc), source=self.name) from None
            for start, end in self._windows(inst.calendar, tf, sessions):
                chart = self._chart(vendor, start, end, INTERVALS[tf])
                frames.append(self._bars(chart, inst, vendor, tf, sessions))
        return finish(frames)

    # --- requests ---------------------------------------------------------------------------

    def _timeframe(self, inst: Instrument, timeframe: Timeframe | str | None) -> Timeframe:
        try:
            tf = inst.base_timeframe if timeframe is None else Timeframe.parse(timeframe)
        except ValueError as exc:
            raise SourceError(str(exc), source=self.name) from None
        if tf not in INTERVALS:
            raise SourceError(f"delivers M1 and D1 only, not {tf}", source=self.name)
        return tf

    @staticmethod
    def _windows(
        calendar: str, tf: Timeframe, sessions: list[dt.date]
    ) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
        """UTC request ranges covering the sessions: one for daily bars (from EVENT_LOOKBACK
        before the first open, so the session before the first one is in the answer and its
        adjustment step is known; a day of slack after the last close, since Yahoo stamps
        daily bars at local midnight or at the open), 7-day chunks for minute bars."""
        bounds = [b for b in (session_bounds(calendar, d) for d in sessions) if b is not None]
        if not bounds:
            return []
        if tf is Timeframe.D1:
            day = pd.Timedelta(days=1)
            return [(bounds[0][0] - EVENT_LOOKBACK, bounds[-1][1] + day)]
        chunks: list[tuple[pd.Timestamp, pd.Timestamp]] = []
        for start, end in bounds:
            if chunks and end - chunks[-1][0] <= MINUTE_REQUEST_SPAN:
                chunks[-1] = (chunks[-1][0], end)
            else:
                chunks.append((start, end))
        return chunks

    def _chart(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp, interval: str) -> Any:
        """The `chart.result[0]` object of one request (SourceError for vendor errors)."""
        url = f"{self.base_url}/v8/finance/chart/{quote(symbol, safe='')}"
        params = {
            "period1": str(int(start.timestamp())),
            "period2": str(int(end.timestamp())),
            "interval": interval,
            "includePrePost": "false",
        }
        response = self._http.request(
            "GET", url, params=params, headers={"Accept": "application/json"}
        )
        status = int(response.status_code)
        if status != 200:
            detail = self._chart_error(response) or self._http.vendor_message(response)
            hint = " (blocked, or Yahoo wants a cookie/crumb)" if status in (401, 403) else ""
            raise self._http.error(
                f"chart request for {symbol} answered HTTP {status}{hint}: {detail}",
                retryable=False,
            )
        payload = self._http.json(response, url)
        chart = payload.get("chart") if isinstance(payload, dict) else None
        if not isinstance(chart, dict):
            raise self._http.error(f"response for {symbol} has no 'chart' object", retryable=False)
        if chart.get("error"):
            raise self._http.error(
                f"chart error for {symbol}: {self._describe(chart['error'])}", retryable=False
            )
        result = chart.get("result")
        if not isinstance(result, list) or not result or not isinstance(result[0], dict):
            raise self._http.error(
                f"response for {symbol} has no 'chart.result[0]' object", retryable=False
            )
        meta = result[0].get("meta")
        granularity = meta.get("dataGranularity") if isinstance(meta, dict) else None
        if granularity is not None and granularity != interval:
            raise self._http.error(
                f"asked {symbol} for {interval} bars, Yahoo answered {granularity!r}",
                retryable=False,
            )
        return result[0]

    def _chart_error(self, response: Any) -> str | None:
        try:
            body = response.json()
        except ValueError:
            return None
        chart = body.get("chart") if isinstance(body, dict) else None
        error = chart.get("error") if isinstance(chart, dict) else None
        return self._describe(error) if error else None

    def _describe(self, error: Any) -> str:
        if isinstance(error, dict):
            text = f"{error.get('code', '?')}: {error.get('description', '')}"
        else:
            text = str(error)
        return self._http.redact(" ".join(text.split())[:200])

    # --- parsing ----------------------------------------------------------------------------

    def _bars(
        self,
        chart: dict[str, Any],
        inst: Instrument,
        vendor: str,
        tf: Timeframe,
        sessions: list[dt.date],
    ) -> pd.DataFrame:
        stamps = chart.get("timestamp")
        if stamps is None:
            return empty_bars()  # Yahoo sends no timestamps when the range has no data
        if not isinstance(stamps, list) or not all(
            isinstance(s, int) and not isinstance(s, bool) for s in stamps
        ):
            raise self._http.error(
                f"'timestamp' of {vendor} is not a list of epoch seconds", retryable=False
            )
        n = len(stamps)
        quote_ = self._first(chart, "quote", vendor)
        cols: dict[str, np.ndarray] = {}
        for name in _QUOTE_FIELDS:
            values = quote_.get(name)
            if not isinstance(values, list) or len(values) != n:
                raise self._http.error(
                    f"'indicators.quote[0].{name}' of {vendor} is missing or has "
                    f"{len(values) if isinstance(values, list) else 'no'} values for "
                    f"{n} timestamps",
                    retryable=False,
                )
            cols[name], wrong = numbers(values)
            if wrong:
                log.warning("yfinance: %s %s: %d non-numeric values", vendor, name, wrong)
        for name in ("open", "high", "low", "close"):
            cols[name] = clean_float32(cols[name])

        ts = pd.DatetimeIndex(
            pd.to_datetime(np.asarray(stamps, dtype=np.int64), unit="s", utc=True)
        )
        wanted = np.array(sessions, dtype="datetime64[D]")
        if tf is Timeframe.D1:
            session_days = _local_days(ts, _exchange_zone(chart, inst.calendar))
            opens = {d: session_bounds(inst.calendar, d.astype(object)) for d in set(wanted)}
            inside = np.isin(session_days, wanted)
            ts = pd.DatetimeIndex(
                [opens[d][0] if ok else pd.NaT for d, ok in zip(session_days, inside, strict=True)],
                tz="UTC",
            )
            # Yahoo's factor is cumulative as of the fetch; the step between neighbouring
            # sessions is the event (see market_assets/core/adjustments.py). The request reaches
            # EVENT_LOOKBACK before the first session so that its step is known too.
            adj = events_from_cumulative(self._adj_factor(chart, vendor, cols["close"], n))
        else:
            session_days = assign_sessions(inst.calendar, ts)
            inside = np.isin(session_days, wanted)
            adj = np.ones(n)
        gaps = int((np.isnan(cols["close"]) & inside).sum())
        if gaps:
            log.warning(
                "yfinance: %s %s: %d bars with null prices passed on as NaN (the row rules "
                "quarantine them)",
                vendor,
                INTERVALS[tf],
                gaps,
            )
        return bar_frame(
            symbol=inst.symbol,
            timeframe=tf.value,
            source=self.name,
            ts=ts[inside],
            session_days=session_days[inside],
            open_=cols["open"][inside],
            high=cols["high"][inside],
            low=cols["low"][inside],
            close=cols["close"][inside],
            volume=cols["volume"][inside],
            adj_factor=adj[inside],
        )

    def _first(self, chart: dict[str, Any], name: str, vendor: str) -> dict[str, Any]:
        indicators = chart.get("indicators")
        items = indicators.get(name) if isinstance(indicators, dict) else None
        if not isinstance(items, list) or not items or not isinstance(items[0], dict):
            raise self._http.error(
                f"'indicators.{name}[0]' of {vendor} is missing", retryable=False
            )
        return items[0]

    def _adj_factor(
        self, chart: dict[str, Any], vendor: str, close: np.ndarray, n: int
    ) -> np.ndarray:
        """Yahoo's cumulative factor adjclose / close; NaN where either is missing, 1.0
        everywhere when Yahoo sends no adjclose at all."""
        indicators = chart.get("indicators")
        if not isinstance(indicators, dict) or not indicators.get("adjclose"):
            return np.ones(n)
        values = self._first(chart, "adjclose", vendor).get("adjclose")
        if not isinstance(values, list) or len(values) != n:
            raise self._http.error(
                f"'indicators.adjclose[0].adjclose' of {vendor} does not match the timestamps",
                retryable=False,
            )
        adjclose = clean_float32(numbers(values)[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = adjclose / close
        return np.where(np.isfinite(ratio) & (ratio > 0), ratio, np.nan)


def clean_float32(values: np.ndarray) -> np.ndarray:
    """Undo float32 serialisation: values exactly representable as float32 become the double
    nearest to their shortest float32 decimal (149.8699951171875 -> 149.87)."""
    out = np.array(values, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        as32 = out.astype(np.float32)
    exact = np.isfinite(out) & (as32.astype(np.float64) == out)
    if exact.any():
        out[exact] = as32[exact].astype(str).astype(np.float64)
    return out


def _exchange_zone(chart: dict[str, Any], calendar: str) -> dt.tzinfo:
    """The exchange's zone from meta (name, else gmtoffset), else the calendar's zone."""
    meta = chart.get("meta") if isinstance(chart.get("meta"), dict) else {}
    name = meta.get("exchangeTimezoneName")
    if isinstance(name, str):
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    offset = meta.get("gmtoffset")
    if isinstance(offset, int) and not isinstance(offset, bool):
        return dt.timezone(dt.timedelta(seconds=offset))
    return ZoneInfo(calendar_timezone(calendar))


def _local_days(ts: pd.DatetimeIndex, zone: dt.tzinfo) -> np.ndarray:
    local = ts.tz_convert(zone).tz_localize(None)
    return local.values.astype("datetime64[D]")
